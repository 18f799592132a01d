"""Tensor ops of 3D detectors in plain torch: voxelization, points in boxes, BEV NMS,
CenterNet Gaussian targets, and spconv algorithm helpers.

Everything runs on CPU and GPU tensors alike; on CPU, voxelization also has a C++ kernel of
our own (:mod:`.native`, built on first use; spconv/torch where it cannot be built).
Submodules load on first use (:mod:`perception_kd.lazy`): only ``spconv_utils`` imports
spconv.
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'gaussian': ('draw_gaussian', 'draw_gaussians', 'gaussian_2d', 'gaussian_radius',
                 'heatmap_radius'),
    'nms': ('bev_intersection_area', 'bev_iou', 'bev_iou_aligned', 'circle_nms', 'nms_bev'),
    'points_in_boxes': ('points_in_boxes', 'points_in_boxes_idx'),
    'spconv_utils': ('register_spconv_algo_hook', 'set_spconv_algo', 'sparse_conv_block',
                     'spconv_layers'),
    'voxelize': ('PointVoxelMap', 'Voxelization', 'VoxelizeResult', 'grid_shape', 'voxelize',
                 'voxelize_batch', 'voxelize_points'),
})
