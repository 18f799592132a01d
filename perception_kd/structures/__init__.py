"""Boxes, frames/poses (SE(3) helpers), the BEV grid and the sample container."""
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
    'BEVGrid', 'GlobalBoxes', 'bev_corners', 'box_corners', 'global_to_lidar_boxes', 'limit_yaw',
    'lidar_to_global_boxes', 'points_in_boxes', 'Det3DDataSample', 'chain', 'invert',
    'make_transform', 'matrix_to_quat', 'matrix_yaw', 'quat_to_matrix', 'record_to_transform',
    'rotz', 'transform_points', 'yaw_to_quat'
]
