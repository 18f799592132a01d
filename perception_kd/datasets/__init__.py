"""nuScenes data: info files, the dataset and the transform pipeline.

The synthetic nuScenes-format generator lives in :mod:`perception_kd.datasets.synthetic`
(imported on demand).
"""
from . import transforms  # noqa: F401  (registers the pipeline steps)
from .infos import create_nuscenes_infos
from .nuscenes import CAMERAS, CLASSES, NuScenesDataset, resolve_path
from .samplers import SceneSequentialSampler

__all__ = ['create_nuscenes_infos', 'NuScenesDataset', 'CLASSES', 'CAMERAS', 'resolve_path',
           'SceneSequentialSampler']
