"""Building the mmengine Runner from a config (shared by tools/train.py and tools/test.py)."""
from __future__ import annotations

import os.path as osp
import re

from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner import Runner
from mmengine.visualization import Visualizer

__all__ = ['build_runner', 'config_stem', 'unique_experiment_name']


def config_stem(path: str) -> str:
    """``configs/centerpoint_lidar.py`` -> ``centerpoint_lidar`` (the default work dir name)."""
    return osp.splitext(osp.basename(path))[0]


def unique_experiment_name(stem: str) -> str:
    """An experiment name for the Runner: ``stem``, or ``stem_<n>`` when this process has
    run an experiment of that name already.

    The Runner appends its timestamp (``<name>_YYYYmmdd_HHMMSS``) and keys mmengine's
    process-wide logger, message hub and visualizer by the result; two runs started in the
    same second in one process (tests, notebooks) would share them and their log files.
    """
    taken = set()
    for cls in (MMLogger, MessageHub, Visualizer):
        taken.update(getattr(cls, '_instance_dict', {}))

    def used(name: str) -> bool:
        return any(re.fullmatch(rf'{re.escape(name)}_\d{{8}}_\d{{6}}', key) for key in taken)

    name, index = stem, 1
    while used(name):
        index += 1
        name = f'{stem}_{index}'
    return name


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg``, or the registered runner named by ``cfg.runner_type``.

    Imports every registering module first (:func:`perception_kd.registry.register_all_modules`).
    With the environment variable ``PERCEPTION_KD_PROGRESS_FILE`` set, a
    :class:`~perception_kd.engine.progress.ProgressFileHook` writing that file is added to
    ``cfg.custom_hooks`` (``tools/demo_unidistill.py`` draws its progress bars from it).
    """
    from ..registry import register_all_modules
    register_all_modules()
    from .progress import progress_hook_cfg
    hook = progress_hook_cfg()
    if hook is not None:
        hooks = [h for h in (cfg.get('custom_hooks') or [])
                 if not (isinstance(h, dict) and h.get('type') == 'ProgressFileHook')]
        cfg.custom_hooks = hooks + [hook]
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
