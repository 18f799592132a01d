"""Split an info file by scene into a labelled and an unlabelled part (semi-supervised setups).

The library behind ``tools/split_infos.py``. Scenes, not samples, are split (keyframes of
one scene are strongly correlated, and OCFs / pseudo tracks are built per scene). From
``<name>.pkl`` it writes

- ``<name>_labelled.pkl``: the samples of the labelled scenes, unchanged;
- ``<name>_unlabelled.pkl``: the samples of the other scenes with ``labelled: False`` and
  their ``instances`` removed (an unlabelled scene's boxes can then only come from pseudo
  labels, ``tools/make_ocf.py --pseudo-labels``; the devkit tables still hold them for
  evaluation).

Both files get the same ``metainfo['semi_split']`` (source, fraction, seed, scene names),
so they can be concatenated (mmengine's ``ConcatDataset`` requires equal metainfo).
Files are written atomically; existing ones are only replaced with ``force``.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .io import dump_atomic, load_info_file


@dataclass
class SplitResult:
    """What :func:`split_info_file` wrote.

    Attributes:
        labelled_path / unlabelled_path: the files written.
        labelled_scenes / unlabelled_scenes: scene names (tokens where no name is known).
        labelled_samples / unlabelled_samples: sample counts.
    """
    labelled_path: str
    unlabelled_path: str
    labelled_scenes: list[str]
    unlabelled_scenes: list[str]
    labelled_samples: int
    unlabelled_samples: int

    def format(self) -> str:
        return '\n'.join([
            f'labelled: {len(self.labelled_scenes)} scenes, {self.labelled_samples} samples -> '
            f'{self.labelled_path}',
            f'unlabelled: {len(self.unlabelled_scenes)} scenes, {self.unlabelled_samples} samples '
            f'-> {self.unlabelled_path}',
            f'labelled scenes: {" ".join(self.labelled_scenes)}'])


def scene_names_of(root: str, version: str | None) -> dict[str, str]:
    """``{scene token: name}`` from ``<root>/<version>/scene.json`` (empty if unreadable)."""
    if not version:
        return {}
    try:
        with open(osp.join(root, version, 'scene.json')) as file:
            return {rec['token']: rec['name'] for rec in json.load(file)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def choose_labelled_scenes(scenes: Sequence[str], labelled_fraction: float | None = None,
                           seed: int = 0, labelled_scenes: Sequence[str] | None = None,
                           names: dict[str, str] | None = None) -> list[str]:
    """The labelled scene tokens among ``scenes`` (tokens, in info-file order).

    Either ``labelled_scenes`` (names or tokens), or a seeded random ``labelled_fraction``
    of the scenes: ``round(fraction * n)`` of them, at least 1 and at most ``n - 1``.
    """
    names = names or {}
    if (labelled_fraction is None) == (labelled_scenes is None):
        raise ValueError('give either a labelled fraction or the labelled scenes')
    if len(scenes) < 2:
        raise ValueError(f'the info file has {len(scenes)} scene(s); a labelled/unlabelled split '
                         'needs at least 2')
    if labelled_scenes is not None:
        by_key = {tok: tok for tok in scenes} | {names[tok]: tok for tok in scenes if tok in names}
        unknown = [s for s in labelled_scenes if s not in by_key]
        if unknown:
            available = ', '.join(names.get(t, t) for t in scenes[:12])
            raise ValueError(f'labelled scenes {unknown} are not in the info file (scenes there: '
                             f'{available}{" ..." if len(scenes) > 12 else ""})')
        chosen = {by_key[s] for s in labelled_scenes}
        if len(chosen) == len(scenes):
            raise ValueError('every scene is labelled: leave at least one unlabelled')
        return [tok for tok in scenes if tok in chosen]
    if not 0.0 < labelled_fraction < 1.0:
        raise ValueError(f'labelled fraction must lie in (0, 1), got {labelled_fraction}')
    count = int(np.clip(round(labelled_fraction * len(scenes)), 1, len(scenes) - 1))
    order = np.random.default_rng(seed).permutation(len(scenes))
    chosen = {scenes[i] for i in order[:count]}
    return [tok for tok in scenes if tok in chosen]


def split_info_file(path: str, labelled_fraction: float | None = None, seed: int = 0,
                    labelled_scenes: Sequence[str] | None = None,
                    out_labelled: str | None = None, out_unlabelled: str | None = None,
                    root: str | None = None, force: bool = False) -> SplitResult:
    """Split ``path`` by scene (module doc) and write the two info files.

    Args:
        path: an info file of ``tools/create_data.py`` (e.g. ``nuscenes_infos_train.pkl``).
        labelled_fraction / seed / labelled_scenes: see :func:`choose_labelled_scenes`.
        out_labelled / out_unlabelled: outputs (default ``<name>_labelled.pkl`` /
            ``<name>_unlabelled.pkl`` next to ``path``).
        root: nuScenes root for scene names (default: the info file's folder).
        force: replace existing outputs.
    """
    data = load_info_file(path)
    stem = path[:-4] if path.endswith('.pkl') else path
    out_labelled = out_labelled or stem + '_labelled.pkl'
    out_unlabelled = out_unlabelled or stem + '_unlabelled.pkl'
    for out in (out_labelled, out_unlabelled):
        if osp.abspath(out) == osp.abspath(path):
            raise ValueError(f'output {out} is the input info file; choose another name')
        if osp.exists(out) and not force:
            raise FileExistsError(f'{out} exists; pass --force to replace it')
    data_list = data['data_list']
    if any(info.get('labelled', True) is False for info in data_list):
        raise ValueError(f'{path} already holds unlabelled samples (labelled: False); split the '
                         'original info file of tools/create_data.py')
    missing = [i for i, info in enumerate(data_list) if 'scene_token' not in info]
    if missing:
        raise KeyError(f'info {missing[0]} of {path} has no scene_token; rebuild the info files '
                       'with tools/create_data.py')
    scenes = list(dict.fromkeys(info['scene_token'] for info in data_list))
    metainfo = dict(data.get('metainfo') or {})
    names = scene_names_of(root or osp.dirname(osp.abspath(path)), metainfo.get('version'))
    labelled = set(choose_labelled_scenes(scenes, labelled_fraction, seed, labelled_scenes, names))
    labelled_names = [names.get(t, t) for t in scenes if t in labelled]
    unlabelled_names = [names.get(t, t) for t in scenes if t not in labelled]
    metainfo['semi_split'] = dict(source=osp.basename(path), labelled_fraction=labelled_fraction,
                                  seed=seed if labelled_scenes is None else None,
                                  labelled_scenes=labelled_names,
                                  unlabelled_scenes=unlabelled_names)
    in_labelled = [info['scene_token'] in labelled for info in data_list]
    part_l = _subset(data_list, [i for i, keep in enumerate(in_labelled) if keep])
    part_u = _subset(data_list, [i for i, keep in enumerate(in_labelled) if not keep],
                     labelled=False, instances=[])
    dump_atomic(dict(data, metainfo=metainfo, data_list=part_l), out_labelled)
    dump_atomic(dict(data, metainfo=metainfo, data_list=part_u), out_unlabelled)
    return SplitResult(out_labelled, out_unlabelled, labelled_names, unlabelled_names,
                       len(part_l), len(part_u))


def _subset(data_list: list[dict], positions: list[int], **updates) -> list[dict]:
    """Copies of ``data_list[positions]`` (with ``updates``) whose ``sample_idx``, ``prev`` and
    ``next`` (``data_list`` indices, ``docs/data_format.md``) are renumbered for the subset."""
    new_index = {old: new for new, old in enumerate(positions)}
    out = []
    for new, old in enumerate(positions):
        info = dict(data_list[old], **updates)
        info['sample_idx'] = new
        for key in ('prev', 'next'):
            if isinstance(info.get(key), (int, np.integer)):
                info[key] = new_index.get(int(info[key]), -1)
        out.append(info)
    return out


__all__ = ['SplitResult', 'choose_labelled_scenes', 'split_info_file', 'scene_names_of']
