"""Boxes, frames/poses (SE(3) helpers), the BEV grid, the sample container and the lidarseg
class table.

Submodules load on first use (:mod:`perception_kd.lazy`): all are numpy only except
``data_sample`` and ``point_data`` (mmengine, torch).
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'lidarseg': ('LIDARSEG_IGNORE_INDEX', 'LIDARSEG_NUM_CLASSES', 'lidarseg_classes',
                 'lidarseg_label_map', 'to_devkit_labels'),
    'bev': ('BEVGrid',),
    'boxes': ('GlobalBoxes', 'bev_corners', 'box_corners', 'global_to_lidar_boxes', 'limit_yaw',
              'lidar_to_global_boxes', 'points_in_boxes'),
    'data_sample': ('Det3DDataSample',),
    'point_data': ('PointData',),
    'projection': ('PointPixelPairs', 'project_points_to_cameras'),
    'transforms': ('chain', 'invert', 'make_transform', 'matrix_to_quat', 'matrix_yaw',
                   'quat_to_matrix', 'record_to_transform', 'rotz', 'transform_points',
                   'yaw_to_quat'),
})
