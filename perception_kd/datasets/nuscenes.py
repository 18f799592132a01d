"""``NuScenesDataset``: an mmengine ``BaseDataset`` over the info files of ``create_data.py``.

The info layout is the contract of ``docs/data_format.md`` (mmdet3d 1.x "v2" keys plus
ours), so mmdet3d-made infos load too, sweeps included. ``parse_data_info`` resolves every
file path and turns the instances into an ``ann_info`` dict:

- ``gt_bboxes_3d``: float32 (N, 9) ``(x, y, z, l, w, h, yaw, vx, vy)`` in the keyframe
  LiDAR frame, z at the box centre; unknown (nan) velocity becomes 0.
- ``gt_labels_3d``: int64 (N,), indices into ``metainfo['classes']``.
- ``gt_names_3d``: (N,) class names; ``instance_tokens``: (N,) nuScenes instance tokens.

Only *usable* instances are kept: ``bbox_3d_isvalid`` (at least one LiDAR or radar point)
and a label among the dataset classes. This holds in test mode too; evaluation reads
the ground truth from the devkit, not from here.

Semi-supervised infos (``tools/split_infos.py``, ``tools/make_ocf.py --pseudo-labels``):
every sample gets ``labelled`` (bool, default True), which ``Pack3DDetInputs`` puts in
the data sample's metainfo. An unlabelled sample (``labelled: False``) takes its boxes
from ``pseudo_instances`` (a detector's linked predictions, same fields) instead of
``instances`` (none in test mode before they exist; an error in training): the pipeline
moves them like ground truth, and a model decides what they
may supervise (the ``Distiller`` with ``semi_supervised=True`` distils on them but does
not compute its detection loss on them).
"""
from __future__ import annotations

import os.path as osp
import pickle
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from ..constants import CAMERAS, CLASSES, DEFAULT_DATA_PREFIX, resolve_path
from ..registry import DATASETS
from .info_parser import NuScenesInfoParser
from .io import info_file_problem
from .seeding import SampleSeedMixin

__all__ = ['CAMERAS', 'CLASSES', 'DEFAULT_DATA_PREFIX', 'NuScenesDataset', 'resolve_path',
           'select_scans']

@DATASETS.register_module()
class NuScenesDataset(NuScenesInfoParser, SampleSeedMixin, BaseDataset):
    """nuScenes keyframes for 3D detection, read from ``<prefix>_infos_<split>.pkl``.

    Args:
        data_root: nuScenes root (the folder holding ``samples/``, ``sweeps/``, ``v1.0-*``).
        ann_file: info file, relative to ``data_root`` or absolute.
        pipeline: transform configs (types from the ``perception_kd`` TRANSFORMS registry)
            or callables.
        data_prefix: folders of each file kind relative to ``data_root`` (keys ``pts``,
            ``sweeps`` and one per camera channel); missing keys take the nuScenes defaults.
        modality: ``dict(use_lidar=bool, use_camera=bool)``; paths are resolved only for
            the modalities in use.
        test_mode: no ground-truth filtering of samples, no re-fetching.
        filter_empty_gt: in training, drop samples without usable instances (before the
            pipeline) and re-fetch another sample when the pipeline removed them all.
        with_velocity: keep ``(vx, vy)`` in ``gt_bboxes_3d`` (N, 9); otherwise (N, 7).
        scan_fraction: keep this fraction of the info file's samples (label-fraction
            protocols: 0.01, 0.1, 1.0), at least one; see :func:`select_scans`.
        subset_seed: seed of the scan choice (the same for every method compared).
        metainfo: may set ``classes`` to a subset/reordering of :data:`CLASSES`; labels
            are remapped to it and other instances dropped.
        **kwargs: passed to ``mmengine.dataset.BaseDataset``.
    """
    METAINFO = dict(classes=CLASSES)

    def __init__(self, data_root: str, ann_file: str, pipeline: Sequence[dict | Callable] = (),
                 data_prefix: Mapping[str, str] | None = None,
                 modality: Mapping[str, bool] | None = None, test_mode: bool = False,
                 filter_empty_gt: bool = True, with_velocity: bool = True,
                 scan_fraction: float = 1.0, subset_seed: int = 0, **kwargs):
        from .transforms.base import build_pipeline  # its TRANSFORMS lookups import the steps
        self.modality = {'use_lidar': True, 'use_camera': False, **(modality or {})}
        unknown = set(self.modality) - {'use_lidar', 'use_camera'}
        if unknown:
            raise KeyError(f'unknown modality keys {sorted(unknown)}; use use_lidar / use_camera')
        if not 0.0 < scan_fraction <= 1.0:
            raise ValueError(f'scan_fraction must be in (0, 1], got {scan_fraction}')
        self.scan_fraction = float(scan_fraction)
        self.subset_seed = int(subset_seed)
        self.filter_empty_gt = filter_empty_gt
        self.with_velocity = with_velocity
        prefix = dict(DEFAULT_DATA_PREFIX, **(data_prefix or {}))
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=prefix,
                         pipeline=build_pipeline(pipeline), test_mode=test_mode, **kwargs)

    # ----------------------------------------------------------------------- loading
    def load_data_list(self) -> list:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'info file {self.ann_file} not found; create it with '
                f'`python tools/create_data.py {self.data_root or "<nuscenes root>"} '
                '--version v1.0-mini` (or v1.0-trainval), or fix ann_file / data_root')
        self._label_map = None
        try:
            return super().load_data_list()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
                MemoryError, UnicodeDecodeError) as err:
            reason = info_file_problem(self.ann_file) or f'{type(err).__name__}: {err}'
            raise ValueError(f'info file {self.ann_file} cannot be read: {reason}; rebuild it '
                             'with `python tools/create_data.py '
                             f'{self.data_root or "<nuscenes root>"}`') from err

    def filter_data(self) -> list:
        """Keep ``scan_fraction`` of the samples; then, in training with ``filter_empty_gt``,
        drop samples without usable instances."""
        data_list = self.data_list
        if self.scan_fraction < 1.0:
            data_list = [data_list[i] for i in select_scans(
                [info['token'] for info in data_list], self.scan_fraction, self.subset_seed)]
        if self.test_mode or not self.filter_empty_gt:
            return data_list
        return [info for info in data_list if len(info['ann_info']['gt_labels_3d']) > 0]

    def __getitem__(self, idx: int) -> dict:
        """``BaseDataset.__getitem__`` after seeding the random generators for this sample
        when training set it up (:class:`~perception_kd.datasets.seeding.SampleSeedMixin`)."""
        self.seed_sample(idx)
        return super().__getitem__(idx)

    def prepare_data(self, idx: int):
        """Run the pipeline; in training return None (re-fetch) if no ground truth survived."""
        results = self.pipeline(self.get_data_info(idx))
        if (results is not None and not self.test_mode and self.filter_empty_gt
                and _num_gt(results) == 0):
            return None
        return results


def select_scans(tokens: Sequence[str], fraction: float, seed: int = 0) -> list:
    """Indices (ascending) of ``max(1, round(fraction * len(tokens)))`` samples.

    The tokens are sorted first and a ``numpy.random.default_rng(seed)`` permutation of
    them picks the subset, so the choice depends only on the set of sample tokens, the
    fraction and the seed (not on the info file's order); with one seed a smaller fraction
    is a subset of a larger one (both are prefixes of the same permutation).
    """
    num = max(1, int(round(fraction * len(tokens)))) if tokens else 0
    order = np.argsort(np.asarray(tokens, dtype=object), kind='stable')
    chosen = order[np.random.default_rng(seed).permutation(len(tokens))[:num]]
    return sorted(int(i) for i in chosen)


def _num_gt(results: dict) -> int:
    """Ground-truth count of a pipeline output (packed or not); -1 when it carries none."""
    sample = results.get('data_samples')
    if sample is not None and hasattr(sample, 'gt_instances_3d'):
        return len(sample.gt_instances_3d)
    if 'gt_labels_3d' in results:
        return len(results['gt_labels_3d'])
    return -1

