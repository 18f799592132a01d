"""``SegDataPreprocessor``: a batch -> unique voxels with a point <-> voxel map (segmentation).

Output ``{'inputs': ..., 'data_samples': [...]}``: ``inputs`` keeps ``points`` (B tensors
(N_b, C), LiDAR frame, on the device; images normalised as ``Det3DDataPreprocessor`` does)
and adds::

    voxels = dict(features=(M, C) float,        # mean (or first) point features per voxel
                  coors=(M, 4) int32 (b, z, y, x),
                  point2voxel=(sum N_b,) int64,  # row of every point's voxel, batch order
                  batch_size=B,
                  sparse_shape=(nz, ny, nx),     # spconv order
                  points_per_sample=(B,) int64)

Points outside ``point_cloud_range`` are clipped into the border voxels (``clip=True``,
the default), so every point keeps a voxel and gets a prediction (the devkit needs one
per point); ``clip=False`` maps them to -1 (they must then be filtered in the pipeline).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..ops import grid_shape, voxelize_points
from ..ops.voxelize import _check_geometry
from ..registry import MODELS
from .data_preprocessor import Det3DDataPreprocessor


@MODELS.register_module()
class SegDataPreprocessor(Det3DDataPreprocessor):
    """Move a batch to the device and voxelize ``points`` into unique voxels.

    Args:
        voxel_size: ``(dx, dy, dz)`` metres.
        point_cloud_range: ``(x0, y0, z0, x1, y1, z1)`` metres, LiDAR frame.
        reduce: ``'mean'`` (average of the voxel's points, every column) or ``'first'``.
        clip: clip out-of-range points into the grid (see the module doc).
        **kwargs: image normalisation of :class:`Det3DDataPreprocessor` (``mean``, ``std``,
            ``flip_channels``, ``non_blocking``), for models that also read images.
    """

    def __init__(self, voxel_size: Sequence[float], point_cloud_range: Sequence[float],
                 reduce: str = 'mean', clip: bool = True, **kwargs):
        super().__init__(voxelize_cfg=None, point_keys=('points',), **kwargs)
        if reduce not in ('mean', 'first'):
            raise ValueError(f"reduce must be 'mean' or 'first', got {reduce!r}")
        self.voxel_size, self.point_cloud_range = _check_geometry(voxel_size, point_cloud_range)
        self.reduce = reduce
        self.clip = clip
        nx, ny, nz = grid_shape(self.voxel_size, self.point_cloud_range)
        self.sparse_shape = (nz, ny, nx)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Batch -> ``dict(inputs=dict(points, voxels, ...), data_samples)``."""
        out = super().forward(data, training)
        if 'points' not in out['inputs']:
            raise KeyError("SegDataPreprocessor needs inputs['points']; pack them with "
                           "Pack3DDetInputs(keys=['points', ...])")
        out['inputs']['voxels'] = self.voxelize_points(out['inputs']['points'])
        return out

    @torch.no_grad()
    def voxelize_points(self, clouds: list[Tensor]) -> dict:
        """B clouds (N_b, C) -> the ``voxels`` dict of the module doc."""
        res = voxelize_points(clouds, self.voxel_size, self.point_cloud_range, self.reduce,
                              self.clip)
        return dict(features=res.features, coors=res.coords, point2voxel=res.point2voxel,
                    batch_size=len(clouds), sparse_shape=self.sparse_shape,
                    points_per_sample=res.points_per_sample)
