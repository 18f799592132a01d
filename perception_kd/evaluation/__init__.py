"""Metrics: nuScenes detection through the official devkit; lidarseg mIoU (the devkit's rule);
pixel mIoU of 2D segmentation."""
from .lidarseg_metric import LidarSegMetric, confusion_matrix, iou_from_confusion
from .nuscenes_format import (
                              NUSCENES_DETECTION_CLASSES,
                              attribute_name,
                              classes_from_metainfo,
                              gt_to_predictions,
                              lidar2global_of_info,
                              predictions_to_results,
)
from .nuscenes_metric import NuScenesDetMetric, default_eval_set
from .pixel_seg_metric import PixelSegMetric

__all__ = ['LidarSegMetric', 'confusion_matrix', 'iou_from_confusion',
           'NUSCENES_DETECTION_CLASSES', 'NuScenesDetMetric', 'attribute_name',
           'classes_from_metainfo', 'default_eval_set', 'gt_to_predictions',
           'lidar2global_of_info', 'predictions_to_results', 'PixelSegMetric']
