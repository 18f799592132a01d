"""A test hook for the LiMA DDP test (imported by the run's config through
``custom_imports``): every rank records the scenes of its batches and, after training, saves
them with its weights to ``<out_dir>/rank<r>.pth``."""
import os
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from perception_kd.registry import HOOKS


@HOOKS.register_module()
class SaveRankStateHook(Hook):
    """Per rank: scene tokens per iteration, state dict, world size, wrapper, iterations."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.scenes = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.scenes.append([sample.metainfo.get('scene_token', sample.metainfo.get('token'))
                            for sample in data_batch['data_samples']])

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        rank, world_size = get_dist_info()
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save(dict(state_dict=model.state_dict(), world_size=world_size,
                        wrapper=type(runner.model).__name__, iters=runner.iter,
                        scenes=self.scenes), osp.join(self.out_dir, f'rank{rank}.pth'))
