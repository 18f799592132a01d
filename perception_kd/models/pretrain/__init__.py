"""LiMA image-to-LiDAR pretraining (docs/lima.md).

- :class:`LiMAPretrainer`: the pretraining model (superpixel InfoNCE base + cross-view
  aggregation, long-term memory, cross-sequence alignment, each a switch).
- :mod:`regions`, :mod:`cross_view`, :mod:`memory`, :mod:`losses`: its parts.
- :class:`FrozenImageEncoder`: the frozen image teacher; :class:`ImageSegNet`: the small
  image network trained on the synthetic 2D class maps whose trunk is the default teacher.
"""
from .image_encoder import FrozenImageEncoder, ImageEncoderCheckpointError, resolve_checkpoint
from .image_segnet import ImageSegNet
from .memory import FeatureMemoryBank
from .pretrainer import LiMAPretrainer
from .seg_classes import LIDARSEG_CLASSES, LIDARSEG_FINE_CLASSES, fine_to_coarse_lut
from .timm_backbone import TimmBackbone

__all__ = ['FeatureMemoryBank', 'FrozenImageEncoder', 'ImageEncoderCheckpointError', 'ImageSegNet',
           'LiMAPretrainer',
           'LIDARSEG_CLASSES', 'LIDARSEG_FINE_CLASSES', 'TimmBackbone', 'fine_to_coarse_lut',
           'resolve_checkpoint']
