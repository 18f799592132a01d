"""Detector building blocks, the BEV detector, distillation and pretraining models, the
LiDAR segmentor."""
from .detectors import BEVDetector, BEVFeatures  # noqa: F401
from . import camera  # noqa: F401
from . import fusion  # noqa: F401
from .data_preprocessor import Det3DDataPreprocessor  # noqa: F401
from . import lidar  # noqa: F401
from . import bev, heads  # noqa: F401
from . import distill  # noqa: F401
from .seg_data_preprocessor import SegDataPreprocessor  # noqa: F401
from .segmentors import SegHead, VoxelSegmentor  # noqa: F401
from . import pretrain  # noqa: F401
