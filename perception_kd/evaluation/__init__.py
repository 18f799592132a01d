"""Metrics: nuScenes detection through the official devkit; lidarseg mIoU (the devkit's rule);
pixel mIoU of 2D segmentation.

Submodules load on first use (:mod:`perception_kd.lazy`); ``nuscenes_format`` reads and
writes results JSONs without torch (only :func:`gt_to_predictions` imports it).
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'lidarseg_metric': ('LidarSegMetric', 'confusion_matrix', 'iou_from_confusion'),
    'nuscenes_format': ('NUSCENES_DETECTION_CLASSES', 'attribute_name', 'classes_from_metainfo',
                        'gt_to_predictions', 'lidar2global_of_info', 'predictions_to_results'),
    'nuscenes_metric': ('NuScenesDetMetric', 'default_eval_set'),
    'pixel_seg_metric': ('PixelSegMetric',),
})
