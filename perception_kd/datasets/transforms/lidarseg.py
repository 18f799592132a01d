"""``LoadLidarsegLabels``: nuScenes lidarseg labels of the keyframe -> 16 evaluation classes."""
from __future__ import annotations

import os.path as osp

import numpy as np

from ...registry import TRANSFORMS
from ...structures import lidarseg_label_map
from .base import BaseTransform


@TRANSFORMS.register_module()
class LoadLidarsegLabels(BaseTransform):
    """Read ``results['lidarseg_path']`` into ``results['pts_semantic_mask']`` int64 (N,).

    The file holds one uint8 nuScenes lidarseg index (0..31) per keyframe point; they are
    mapped with the devkit's 32 -> 16 table (:func:`perception_kd.structures.lidarseg_label_map`)
    to labels 0..15 and ``ignore_index`` 16 for noise and unmapped classes. Put it right
    after ``LoadPointsFromFile`` (before sweeps are merged: ``LoadPointsFromMultiSweeps``
    gives sweep points the ignore label); the label count must equal the keyframe's points.

    Args:
        raw: keep the 32 raw lidarseg indices instead of mapping them.
    """

    def __init__(self, raw: bool = False):
        self.raw = raw

    def transform(self, results: dict) -> dict:
        path = results.get('lidarseg_path')
        token = results.get('token')
        if not path:
            raise KeyError(f'sample {token} has no lidarseg_path: the nuScenes tree has no '
                           'lidarseg annotations (lidarseg/<version>/*.bin and lidarseg.json); '
                           'add them and rebuild the infos with tools/create_data.py')
        if not osp.isfile(path):
            raise FileNotFoundError(f'lidarseg file {path} (sample {token}) not found; check '
                                    'data_root and the lidarseg folder of the nuScenes tree')
        labels = np.fromfile(path, dtype=np.uint8)
        if 'points' not in results:
            raise KeyError('LoadLidarsegLabels needs the keyframe points: put it after '
                           'LoadPointsFromFile')
        if len(labels) != len(results['points']):
            raise ValueError(f'lidarseg file {path} has {len(labels)} labels but sample {token} '
                             f'has {len(results["points"])} points; put LoadLidarsegLabels right '
                             'after LoadPointsFromFile (before sweeps, filters and shuffles)')
        table = lidarseg_label_map()
        if labels.size and labels.max() >= len(table):
            raise ValueError(f'lidarseg file {path} holds index {labels.max()}, beyond the '
                             f'{len(table)} nuScenes lidarseg classes')
        results['pts_semantic_mask'] = labels.astype(np.int64) if self.raw else table[labels]
        return results
