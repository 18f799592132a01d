"""nuScenes lidarseg classes: the devkit's 32 -> 16 evaluation mapping as a lookup table.

Our labels are the devkit's evaluation classes shifted down by one: ``0..15`` are the 16
classes in the devkit's coarse index order (``barrier`` ... ``vegetation``, devkit indices
1..16), and :data:`LIDARSEG_IGNORE_INDEX` (16) marks what the devkit maps to its ``ignore``
class 0 (noise, animals, static.other, vehicle.ego, ...), as mmdet3d does. Every name and
the mapping come from ``nuscenes.eval.lidarseg.utils.LidarsegClassMapper`` and
``nuscenes.utils.color_map.get_colormap`` (the 32 fine names in lidarseg index order).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ['LIDARSEG_IGNORE_INDEX', 'LIDARSEG_NUM_CLASSES', 'lidarseg_classes',
           'lidarseg_label_map', 'to_devkit_labels']

LIDARSEG_NUM_CLASSES = 16
LIDARSEG_IGNORE_INDEX = 16


def _mapper():
    # The mapper's tables do not depend on the dataset; its __init__ only needs a NuScenes
    # object for the fine index of each name, which get_colormap gives without tables.
    from nuscenes.eval.lidarseg.utils import LidarsegClassMapper
    mapper = LidarsegClassMapper.__new__(LidarsegClassMapper)
    mapper.ignore_class = mapper.get_ignore_class()
    return mapper


@lru_cache(maxsize=1)
def lidarseg_classes() -> tuple[str, ...]:
    """The 16 evaluation class names; label ``i`` is ``lidarseg_classes()[i]``."""
    mapper = _mapper()
    coarse = mapper.get_coarse2idx()
    ignore = mapper.ignore_class['index']
    names = sorted((idx, name) for name, idx in coarse.items() if idx != ignore)
    if [idx for idx, _ in names] != list(range(1, LIDARSEG_NUM_CLASSES + 1)):
        raise RuntimeError(f'unexpected devkit lidarseg classes {names}; update '
                           'perception_kd/structures/lidarseg.py for this nuscenes-devkit')
    return tuple(name for _, name in names)


@lru_cache(maxsize=1)
def lidarseg_label_map() -> np.ndarray:
    """(32,) int64 table: nuScenes lidarseg index (0..31) -> label 0..15 or 16 (ignore)."""
    from nuscenes.utils.color_map import get_colormap
    mapper = _mapper()
    fine2coarse, coarse2idx = mapper.get_fine2coarse(), mapper.get_coarse2idx()
    fine_names = list(get_colormap().keys())
    ignore = mapper.ignore_class['index']
    table = np.empty(len(fine_names), dtype=np.int64)
    for fine_idx, name in enumerate(fine_names):
        coarse = coarse2idx[fine2coarse[name]]
        table[fine_idx] = LIDARSEG_IGNORE_INDEX if coarse == ignore else coarse - 1
    return table


def to_devkit_labels(labels: np.ndarray) -> np.ndarray:
    """Our labels 0..15 -> the devkit's evaluation indices 1..16 as uint8 (its results
    format); 16 (ignore) is not a valid prediction and raises."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= LIDARSEG_NUM_CLASSES):
        raise ValueError(f'predicted labels must be in 0..{LIDARSEG_NUM_CLASSES - 1}, got '
                         f'{labels.min()}..{labels.max()}')
    return (labels + 1).astype(np.uint8)
