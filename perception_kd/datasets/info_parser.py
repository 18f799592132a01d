"""Parsing of info files into samples, without torch: the part of ``NuScenesDataset`` that
tools reading infos (``tools/visualize.py``) need.

- :class:`NuScenesInfoParser`: ``parse_data_info`` / ``parse_ann_info`` (the rules of
  :mod:`perception_kd.datasets.nuscenes`), a mixin of ``NuScenesDataset``.
- :class:`InfoFileSamples`: the samples of one info file as ``NuScenesDataset`` gives them in
  test mode with an empty pipeline (``get_data_info``, ``metainfo``, ``len``), read with
  numpy and pickle only; ``tests/datasets/test_info_parser.py`` compares the two sample by
  sample.
"""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping, Sequence

import numpy as np

from ..constants import CLASSES, DEFAULT_DATA_PREFIX, resolve_path, resolve_sweep_path
from .io import load_info_file

__all__ = ['InfoFileSamples', 'NuScenesInfoParser']


class NuScenesInfoParser:
    """Raw info -> sample dict. Needs ``data_root``, ``data_prefix`` (joined to the root),
    ``modality``, ``test_mode``, ``with_velocity``, ``ann_file``, ``_metainfo`` and
    ``_label_map`` (None until the first parse) on the instance."""

    def _labels_to_dataset(self, labels: Sequence[int]) -> np.ndarray:
        """Labels of the info file (its ``categories``) -> ``metainfo['classes']`` (-1: absent)."""
        if self._label_map is None:
            categories = self._metainfo.get('categories') or {c: i for i, c in enumerate(CLASSES)}
            classes = list(self._metainfo['classes'])
            self._label_map = {label: classes.index(name) for name, label in categories.items()
                               if name in classes}
        return np.asarray([self._label_map.get(int(label), -1) for label in labels],
                          dtype=np.int64)

    def parse_data_info(self, info: dict) -> dict:
        """Raw info (``docs/data_format.md``) -> sample dict with resolved paths and ``ann_info``.

        Adds ``lidar_path``, ``num_pts_feats``, ``lidar2ego`` and ``ego2global`` (float64 4x4
        arrays) and ``data_root`` at the top level, resolves sweep/image/lidarseg/OCF paths
        (sweeps by file name under the prefix of their kind, as mmdet3d does:
        :func:`~perception_kd.constants.resolve_sweep_path`), and sets ``lidar_sweeps`` to
        ``[]`` where the info has none (the key is absent in mmdet3d's infos and ours then).
        """
        root = self.data_root or ''
        info.setdefault('lidar_sweeps', [])    # absent (mmdet3d layout) = no earlier sweep
        info['ego2global'] = np.asarray(info['ego2global'], dtype=np.float64)
        lidar = info.get('lidar_points')
        if lidar is not None:
            info['lidar2ego'] = np.asarray(lidar['lidar2ego'], dtype=np.float64)
            info['num_pts_feats'] = lidar.get('num_pts_feats', 5)
            if lidar.get('sample_data_token'):   # names lidarseg results files
                info['lidar_sd_token'] = lidar['sample_data_token']
        if self.modality['use_lidar']:
            if lidar is None:
                raise KeyError(f'info {info.get("token")} has no lidar_points but use_lidar=True')
            lidar['lidar_path'] = resolve_path(lidar['lidar_path'], root, self.data_prefix['pts'])
            info['lidar_path'] = lidar['lidar_path']
            for sweep in info['lidar_sweeps']:
                points = sweep['lidar_points']
                points['lidar_path'] = resolve_sweep_path(
                    points['lidar_path'], self.data_prefix['pts'], self.data_prefix['sweeps'])
        if self.modality['use_camera']:
            for channel, image in info.get('images', {}).items():
                image['img_path'] = resolve_path(image['img_path'], root,
                                                 self.data_prefix.get(channel))
        for key in ('lidarseg_path', 'ocf_path'):
            if info.get(key) is not None:
                info[key] = info[key] if osp.isabs(info[key]) else osp.join(root, info[key])
        info['labelled'] = bool(info.get('labelled', True))
        info['data_root'] = root     # image maps are looked up under it (LoadSuperpixels)
        info['ann_info'] = self.parse_ann_info(info)
        return info

    def parse_ann_info(self, info: dict) -> dict:
        """Usable instances of one info as arrays (see the module docstring); the pseudo
        instances of an unlabelled sample."""
        if info.get('labelled', True):
            instances = info.get('instances') or []
        elif 'pseudo_instances' in info:
            instances = info['pseudo_instances'] or []
        elif self.test_mode:   # e.g. predicting the unlabelled scenes' pseudo labels
            instances = []
        else:
            raise KeyError(f'sample {info.get("token")} in {self.ann_file} is unlabelled '
                           '(labelled: False) but has no pseudo_instances; build its OCFs with '
                           '`python tools/make_ocf.py ROOT --pseudo-labels RESULTS.json` and use '
                           'the info files it writes (docs/ocf.md, "Semi-supervised")')
        dim = 9 if self.with_velocity else 7
        if not instances:
            return dict(gt_bboxes_3d=np.zeros((0, dim), np.float32),
                        gt_labels_3d=np.zeros(0, np.int64), gt_names_3d=np.zeros(0, dtype='<U32'),
                        instance_tokens=np.zeros(0, dtype=object))
        boxes = np.asarray([inst['bbox_3d'] for inst in instances], dtype=np.float64).reshape(-1, 7)
        velocity = np.asarray([inst.get('velocity', [np.nan, np.nan]) for inst in instances],
                              dtype=np.float64).reshape(-1, 2)
        velocity = np.nan_to_num(velocity, nan=0.0)
        labels = self._labels_to_dataset([inst.get('bbox_label_3d', inst.get('bbox_label', -1))
                                          for inst in instances])
        valid = np.asarray([inst.get('bbox_3d_isvalid', True) for inst in instances], dtype=bool)
        keep = valid & (labels >= 0)
        classes = np.asarray(self._metainfo['classes'])
        bboxes = np.concatenate([boxes, velocity], 1) if self.with_velocity else boxes
        tokens = np.asarray([inst.get('instance_token', '') for inst in instances], dtype=object)
        return dict(gt_bboxes_3d=bboxes[keep].astype(np.float32), gt_labels_3d=labels[keep],
                    gt_names_3d=classes[labels[keep]], instance_tokens=tokens[keep])


class InfoFileSamples(NuScenesInfoParser):
    """The samples of an info file, parsed like ``NuScenesDataset(..., pipeline=[],
    test_mode=True)`` (every sample kept, paths resolved, ``ann_info`` of usable
    instances, ``sample_idx`` = position) but without mmengine or torch.

    Args:
        data_root: nuScenes root; ``ann_file`` and relative ``data_prefix`` values are
            joined to it.
        ann_file: the info ``.pkl``.
        data_prefix, modality, with_velocity: as for ``NuScenesDataset``.
        metainfo: may set ``classes`` (default :data:`CLASSES`); the info file's own
            metainfo fills the other keys.
    """

    def __init__(self, data_root: str, ann_file: str, data_prefix: Mapping[str, str] | None = None,
                 modality: Mapping[str, bool] | None = None, with_velocity: bool = True,
                 metainfo: Mapping | None = None):
        self.data_root = data_root
        self.ann_file = ann_file if osp.isabs(ann_file) or not data_root else \
            osp.join(data_root, ann_file)
        prefixes = dict(DEFAULT_DATA_PREFIX, **(data_prefix or {}))
        self.data_prefix = {key: prefix if osp.isabs(prefix) or not data_root
                            else osp.join(data_root, prefix) for key, prefix in prefixes.items()}
        self.modality = {'use_lidar': True, 'use_camera': False, **(modality or {})}
        self.test_mode = True
        self.with_velocity = with_velocity
        self._metainfo = {'classes': CLASSES, **copy.deepcopy(dict(metainfo or {}))}
        self._label_map = None
        data = load_info_file(self.ann_file)
        for key, value in (data.get('metainfo') or {}).items():
            self._metainfo.setdefault(key, value)
        self._samples = [self.parse_data_info(info) for info in data['data_list']]

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def __len__(self) -> int:
        return len(self._samples)

    def get_data_info(self, idx: int) -> dict:
        """A copy of sample ``idx`` with ``sample_idx`` set to its position (as mmengine's
        ``BaseDataset.get_data_info``)."""
        info = copy.deepcopy(self._samples[idx])
        info['sample_idx'] = idx if idx >= 0 else len(self) + idx
        return info
