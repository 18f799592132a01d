"""nuScenes data: info files, the dataset and the transform pipeline.

Submodules load on first use (:mod:`perception_kd.lazy`): ``perception_kd.datasets.io``,
``.infos`` and ``.split`` are numpy only; the dataset and the samplers import mmengine and
torch. The synthetic nuScenes-format generator lives in
:mod:`perception_kd.datasets.synthetic`.
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'infos': ('create_nuscenes_infos',),
    'nuscenes': ('NuScenesDataset', 'CLASSES', 'CAMERAS', 'resolve_path'),
    'samplers': ('SceneSequentialSampler',),
}, submodules=('transforms',))
