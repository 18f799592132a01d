"""LiMA image-to-LiDAR pretraining: the frozen image teacher and the network it comes from."""
from .image_encoder import FrozenImageEncoder, ImageEncoderCheckpointError, resolve_checkpoint
from .image_segnet import ImageSegNet
from .seg_classes import LIDARSEG_CLASSES, LIDARSEG_FINE_CLASSES, fine_to_coarse_lut
from .timm_backbone import TimmBackbone

__all__ = ['FrozenImageEncoder', 'ImageEncoderCheckpointError', 'ImageSegNet',
           'LIDARSEG_CLASSES', 'LIDARSEG_FINE_CLASSES', 'TimmBackbone', 'fine_to_coarse_lut',
           'resolve_checkpoint']
