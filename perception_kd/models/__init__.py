"""Detector building blocks, the BEV detector, distillation and pretraining models, the
LiDAR segmentor."""
from . import (  # noqa: F401
    bev,
    camera,  # noqa: F401
    distill,  # noqa: F401
    fusion,  # noqa: F401
    heads,
    lidar,  # noqa: F401
    mmdet3d_bridge,  # noqa: F401  (imports mmdet3d only when the bridge is built)
    pretrain,  # noqa: F401
)
from .data_preprocessor import Det3DDataPreprocessor  # noqa: F401
from .detectors import BEVDetector, BEVFeatures  # noqa: F401
from .seg_data_preprocessor import SegDataPreprocessor  # noqa: F401
from .segmentors import SegHead, VoxelSegmentor  # noqa: F401
