"""Tensor ops of 3D detectors in plain torch: voxelization, points in boxes, BEV NMS,
CenterNet Gaussian targets, and spconv algorithm helpers.

Everything runs on CPU and GPU tensors alike; no compiled extension beyond spconv.
"""
from .gaussian import (
    draw_gaussian,
    draw_gaussians,
    gaussian_2d,
    gaussian_radius,
    heatmap_radius,
)
from .nms import bev_intersection_area, bev_iou, bev_iou_aligned, circle_nms, nms_bev
from .points_in_boxes import points_in_boxes, points_in_boxes_idx
from .spconv_utils import (
    register_spconv_algo_hook,
    set_spconv_algo,
    sparse_conv_block,
    spconv_layers,
)
from .voxelize import (
    PointVoxelMap,
    Voxelization,
    VoxelizeResult,
    grid_shape,
    voxelize,
    voxelize_batch,
    voxelize_points,
)

__all__ = [
    'draw_gaussian', 'draw_gaussians', 'gaussian_2d', 'gaussian_radius', 'heatmap_radius',
    'bev_intersection_area', 'bev_iou',
    'bev_iou_aligned', 'circle_nms', 'nms_bev', 'points_in_boxes', 'points_in_boxes_idx',
    'register_spconv_algo_hook', 'set_spconv_algo', 'sparse_conv_block', 'spconv_layers',
    'PointVoxelMap', 'Voxelization', 'VoxelizeResult', 'grid_shape', 'voxelize', 'voxelize_batch',
    'voxelize_points'
]
