"""A config's own dataset pipeline on the tiny synthetic tree (tests/conftest.py: 320x180
images), with the image augmentation resized for those images: shared by the model tests.
"""
import copy

import numpy as np
from mmengine.dataset import pseudo_collate

from perception_kd.registry import DATASETS

TINY_IMAGE_WIDTH = 320


def tiny_dataset(dataset_cfg, root: str, final_size=(64, 176), seed: int = 0):
    """``dataset_cfg`` (not changed) rooted at ``root``; every ``ImageAug3D`` step outputs
    ``final_size`` from the tiny images. ``np.random`` is seeded with ``seed`` first."""
    dataset_cfg = copy.deepcopy(dataset_cfg)
    dataset_cfg.data_root = root
    scale = final_size[1] / TINY_IMAGE_WIDTH
    for step in dataset_cfg.pipeline:
        if step['type'] == 'ImageAug3D':
            step.update(final_size=final_size, resize_lim=(scale * 0.95, scale * 1.2))
    np.random.seed(seed)
    return DATASETS.build(dataset_cfg)


def tiny_batch(dataset_cfg, root: str, final_size=(64, 176), batch_size: int = 2,
               seed: int = 0) -> dict:
    """The first ``batch_size`` samples of :func:`tiny_dataset`, collated."""
    dataset = tiny_dataset(dataset_cfg, root, final_size, seed)
    return pseudo_collate([dataset[i] for i in range(batch_size)])
