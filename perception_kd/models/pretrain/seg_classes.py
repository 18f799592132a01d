"""nuScenes-lidarseg classes for the 2D teacher, in the devkit's benchmark numbering.

The table itself is :mod:`perception_kd.structures.lidarseg` (from the devkit's
``LidarsegClassMapper``); the image network numbers the 16 benchmark classes 1..16 and
uses 0 for ``ignore`` (noise, sky, the fine classes the benchmark drops), as the devkit does.

- :data:`LIDARSEG_FINE_CLASSES`: the 32 fine class names by index (the devkit's colour map).
- :data:`LIDARSEG_CLASSES`: the 16 benchmark classes; benchmark index = position + 1.
- :func:`fine_to_coarse_lut`: (32,) int64 fine index -> benchmark index 0..16.
"""
from __future__ import annotations

import numpy as np
from nuscenes.utils.color_map import get_colormap

from ...structures.lidarseg import LIDARSEG_IGNORE_INDEX, lidarseg_classes, lidarseg_label_map

__all__ = ['LIDARSEG_FINE_CLASSES', 'LIDARSEG_CLASSES', 'fine_to_coarse_lut']

LIDARSEG_FINE_CLASSES = tuple(get_colormap().keys())
LIDARSEG_CLASSES = lidarseg_classes()


def fine_to_coarse_lut() -> np.ndarray:
    """(32,) int64: fine lidarseg index -> benchmark index (0 ignore, 1..16 classes)."""
    table = lidarseg_label_map()
    return np.where(table == LIDARSEG_IGNORE_INDEX, 0, table + 1).astype(np.int64)
