"""Pipeline steps (registered in ``perception_kd.registry.TRANSFORMS``)."""
from .augmentation import (
    IMAGE_MAP_KEYS,
    BEVAugmentation,
    ImageAug3D,
    bev_matrix,
    transform_boxes,
    warp_label_map,
)
from .base import BaseTransform, build_pipeline, filter_instances
from .filters import ObjectNameFilter, ObjectRangeFilter, PointShuffle, PointsRangeFilter
from .formatting import Pack3DDetInputs
from .lidarseg import LoadLidarsegLabels
from .loading import (
    LoadAnnotations3D,
    LoadMultiViewImages,
    LoadOCFPoints,
    LoadPointsFromFile,
    LoadPointsFromMultiSweeps,
    load_points,
)
from .pairing import LoadImageSemantics, LoadSuperpixels, PointImagePairing

__all__ = [
    'BaseTransform', 'build_pipeline', 'filter_instances', 'LoadPointsFromFile',
    'LoadPointsFromMultiSweeps', 'LoadOCFPoints', 'LoadMultiViewImages', 'LoadAnnotations3D',
    'load_points', 'LoadLidarsegLabels', 'IMAGE_MAP_KEYS', 'ImageAug3D', 'warp_label_map',
    'BEVAugmentation', 'bev_matrix', 'transform_boxes', 'PointsRangeFilter',
    'ObjectRangeFilter', 'ObjectNameFilter', 'PointShuffle', 'Pack3DDetInputs',
    'LoadSuperpixels', 'LoadImageSemantics', 'PointImagePairing'
]
