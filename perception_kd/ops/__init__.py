"""Tensor ops of 3D detectors in plain torch: voxelization, points in boxes, BEV NMS,
CenterNet Gaussian targets, and spconv algorithm helpers.

Everything runs on CPU and GPU tensors alike; no compiled extension beyond spconv.
"""
from .points_in_boxes import points_in_boxes, points_in_boxes_idx
from .voxelize import Voxelization, VoxelizeResult, grid_shape, voxelize, voxelize_batch

__all__ = [
    'points_in_boxes', 'points_in_boxes_idx', 'Voxelization', 'VoxelizeResult', 'grid_shape',
    'voxelize', 'voxelize_batch'
]
