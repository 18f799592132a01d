"""Pipeline steps (registered in ``perception_kd.registry.TRANSFORMS``).

Submodules load on first use (:mod:`perception_kd.lazy`); a registry lookup imports all of
them (:data:`perception_kd.registry.LOCATIONS`).
"""
from ...lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'base': ('BaseTransform', 'build_pipeline', 'filter_instances'),
    'loading': ('LoadPointsFromFile', 'LoadPointsFromMultiSweeps', 'LoadOCFPoints',
                'LoadMultiViewImages', 'LoadAnnotations3D', 'load_points'),
    'lidarseg': ('LoadLidarsegLabels',),
    'augmentation': ('IMAGE_MAP_KEYS', 'ImageAug3D', 'warp_label_map', 'BEVAugmentation',
                     'bev_matrix', 'transform_boxes'),
    'filters': ('PointsRangeFilter', 'ObjectRangeFilter', 'ObjectNameFilter', 'PointShuffle'),
    'formatting': ('Pack3DDetInputs',),
    'pairing': ('LoadSuperpixels', 'LoadImageSemantics', 'PointImagePairing'),
})
