"""Dense BEV detection heads."""
from .center_decode import CenterTestConfig, decode_task, select_boxes, transform_boxes
from .center_head import NUSCENES_TASKS, CenterHead, SeparateHead
from .center_targets import TaskTargets, box_regression_targets, build_center_targets

__all__ = [
    'CenterTestConfig', 'decode_task', 'select_boxes', 'transform_boxes', 'NUSCENES_TASKS',
    'CenterHead', 'SeparateHead', 'TaskTargets', 'box_regression_targets', 'build_center_targets'
]
