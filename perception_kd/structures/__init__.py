"""Boxes, frames/poses (SE(3) helpers), the BEV grid, the sample container and the lidarseg
class table."""
from .bev import BEVGrid
from .boxes import (
    GlobalBoxes,
    bev_corners,
    box_corners,
    global_to_lidar_boxes,
    lidar_to_global_boxes,
    limit_yaw,
    points_in_boxes,
)
from .data_sample import Det3DDataSample
from .lidarseg import (
    LIDARSEG_IGNORE_INDEX,
    LIDARSEG_NUM_CLASSES,
    lidarseg_classes,
    lidarseg_label_map,
    to_devkit_labels,
)
from .point_data import PointData
from .projection import PointPixelPairs, project_points_to_cameras
from .transforms import (
    chain,
    invert,
    make_transform,
    matrix_to_quat,
    matrix_yaw,
    quat_to_matrix,
    record_to_transform,
    rotz,
    transform_points,
    yaw_to_quat,
)

__all__ = [
    'LIDARSEG_IGNORE_INDEX', 'LIDARSEG_NUM_CLASSES', 'lidarseg_classes', 'lidarseg_label_map',
    'to_devkit_labels',
    'BEVGrid', 'GlobalBoxes', 'bev_corners', 'box_corners', 'global_to_lidar_boxes', 'limit_yaw',
    'lidar_to_global_boxes', 'points_in_boxes', 'Det3DDataSample', 'PointData', 'PointPixelPairs',
    'project_points_to_cameras', 'chain', 'invert',
    'make_transform', 'matrix_to_quat', 'matrix_yaw', 'quat_to_matrix', 'record_to_transform',
    'rotz', 'transform_points', 'yaw_to_quat'
]
