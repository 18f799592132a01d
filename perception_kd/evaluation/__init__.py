"""Metrics: nuScenes detection through the official devkit."""
from .nuscenes_format import (
    NUSCENES_DETECTION_CLASSES,
    attribute_name,
    classes_from_metainfo,
    gt_to_predictions,
    lidar2global_of_info,
    predictions_to_results,
)
from .nuscenes_metric import NuScenesDetMetric, default_eval_set

__all__ = ['NUSCENES_DETECTION_CLASSES', 'NuScenesDetMetric', 'attribute_name',
           'classes_from_metainfo', 'default_eval_set', 'gt_to_predictions',
           'lidar2global_of_info', 'predictions_to_results']
