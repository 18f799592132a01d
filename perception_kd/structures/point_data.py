"""``PointData``: per-point fields of one cloud (mmengine has none; mmdet3d's shape).

Every data field is a tensor/array whose first dimension is the number of points; setting
a field of another length is an error. Example::

    >>> seg = PointData(pts_semantic_mask=torch.zeros(5, dtype=torch.long))
    >>> len(seg)
    5
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mmengine.structures import BaseDataElement


class PointData(BaseDataElement):
    """Per-point data fields (first dimension = points), e.g. ``pts_semantic_mask`` (N,)."""

    def __setattr__(self, name: str, value: Any):
        if name in ('_metainfo_fields', '_data_fields'):
            super().__setattr__(name, value)
            return
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise TypeError(f'PointData field {name!r} must be a tensor or an array, got '
                            f'{type(value).__name__}')
        if value.ndim == 0:
            raise ValueError(f'PointData field {name!r} must have a point dimension')
        if len(self) and len(value) != len(self):
            raise ValueError(f'PointData field {name!r} has {len(value)} rows, the other fields '
                             f'{len(self)} points')
        super().__setattr__(name, value)

    __setitem__ = __setattr__

    def __len__(self) -> int:
        values = list(self.values())
        return len(values[0]) if values else 0
