"""Hard voxelization of point clouds (torch on any device; C++ kernels on CPU).

Semantics follow mmcv's hard voxelization (and spconv's ``PointToVoxel`` on CPU):

* a point's voxel is ``floor((p - range_min) / voxel_size)`` per axis, computed in the
  points' dtype; points whose voxel falls outside the grid are dropped. The grid has
  ``round((range_max - range_min) / voxel_size)`` voxels per axis, so a point exactly on
  ``range_max`` is outside;
* voxels are numbered in order of first appearance in the point list (``deterministic``);
* each voxel keeps its first ``max_points_per_voxel`` points, in point-list order;
  later points of that voxel are dropped;
* only the first ``max_voxels`` voxels are kept (their points still fill them, even
  points that come after the cap was reached).

Coordinates are ``(z, y, x)`` voxel indices as spconv and mmdet3d expect.

Backends (``backend=``), all giving the same output bit for bit where they apply:
``'torch'`` is the plain-torch implementation below (one stable sort of the voxel keys; any
device and dtype). ``'native'`` is the project's C++ kernel (``csrc/hard_voxelize.cpp``,
built on first use by :mod:`perception_kd.ops.native`; CPU, float32, deterministic order
only): one pass over the points through a cell table (dense up to 4M cells, hashed
above), no clearing of the output buffer. ``'spconv'`` runs spconv's C++ ``PointToVoxel``
(same conditions).
``'auto'`` (default), for float32 CPU clouds in deterministic order, takes the native
kernel, or where it cannot be built spconv on grids of at most ``SPCONV_MAX_CELLS`` cells
(pillars: 512 x 512 x 1); torch otherwise (``docs/performance.md``).

:func:`voxelize_points` is the other mode (segmentation, LiMA): one feature row per
occupied voxel (mean or first point), no caps, and a point -> voxel map for every point.

Example::

    >>> pts = torch.tensor([[0.5, 0.5, 0.5, 1.0], [0.6, 0.5, 0.5, 2.0], [1.5, 0.5, 0.5, 3.0]])
    >>> out = voxelize(pts, [1, 1, 1], [0, 0, 0, 2, 2, 2], max_points_per_voxel=4, max_voxels=10)
    >>> out.coords.tolist(), out.num_points.tolist()
    ([[0, 0, 0], [0, 0, 1]], [2, 1])
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..registry import MODELS
from . import native

__all__ = ['PointVoxelMap', 'VoxelizeResult', 'voxelize', 'voxelize_batch', 'voxelize_points',
           'Voxelization', 'grid_shape', 'SPCONV_MAX_CELLS']

# Largest grid (cells) that backend='auto' hands to spconv's CPU PointToVoxel when the
# native kernel is not built: it keeps a dense int32 table of the grid (16 MiB here).
SPCONV_MAX_CELLS = 1 << 22
BACKENDS = ('auto', 'torch', 'native', 'spconv')
_SPCONV_CACHE = threading.local()   # {geometry: PointToVoxel}: its buffers are reused


class VoxelizeResult(NamedTuple):
    """Output of :func:`voxelize` / :func:`voxelize_batch` (unpacks like a tuple).

    voxels: (M, max_points_per_voxel, C) point features, zero-padded past ``num_points``.
    coords: (M, 3) int32 ``(z, y, x)`` voxel indices, or (M, 4) ``(b, z, y, x)`` when batched.
    num_points: (M,) int32 number of points stored in each voxel (1..max_points_per_voxel).
    """
    voxels: torch.Tensor
    coords: torch.Tensor
    num_points: torch.Tensor


class PointVoxelMap(NamedTuple):
    """Output of :func:`voxelize_points` (unpacks like a tuple).

    features: (M, C) one row per occupied voxel (mean of its points, or its first point).
    coords: (M, 4) int32 ``(b, z, y, x)``, sorted by sample then raster ``(z, y, x)`` order.
    point2voxel: (N,) int64 row of ``features``/``coords`` of every point of the
        concatenated clouds (clouds in batch order, points in input order); -1 for a point
        outside the range when ``clip=False``.
    points_per_sample: (B,) int64 points of each cloud (split ``point2voxel`` with it).
    voxels_per_sample: (B,) int64 voxels of each cloud.
    """
    features: torch.Tensor
    coords: torch.Tensor
    point2voxel: torch.Tensor
    points_per_sample: torch.Tensor
    voxels_per_sample: torch.Tensor


def grid_shape(voxel_size: Sequence[float],
               point_cloud_range: Sequence[float]) -> tuple[int, int, int]:
    """Number of voxels along ``(x, y, z)``: ``round((max - min) / voxel_size)`` per axis."""
    voxel_size, point_cloud_range = _check_geometry(voxel_size, point_cloud_range)
    return tuple(int(round((point_cloud_range[i + 3] - point_cloud_range[i]) / voxel_size[i]))
                 for i in range(3))


def voxelize(points: torch.Tensor,
             voxel_size: Sequence[float],
             point_cloud_range: Sequence[float],
             max_points_per_voxel: int,
             max_voxels: int,
             deterministic: bool = True,
             backend: str = 'auto') -> VoxelizeResult:
    """Hard-voxelize one point cloud.

    Args:
        points: (N, C) points, C >= 3, columns ``x, y, z, ...`` in the LiDAR frame (metres).
        voxel_size: (3,) voxel edge lengths ``(dx, dy, dz)`` in metres.
        point_cloud_range: (6,) ``(x_min, y_min, z_min, x_max, y_max, z_max)`` in metres.
        max_points_per_voxel: points kept per voxel (the first ones in point order).
        max_voxels: voxels kept (the first ones, see ``deterministic``).
        deterministic: True numbers voxels by first appearance in the point list (as
            mmcv/spconv on CPU). False numbers them in raster ``(z, y, x)`` order, which
            skips one sort; the cap then keeps the lowest raster indices.
        backend: ``'auto'``, ``'torch'``, ``'native'`` or ``'spconv'`` (module docstring);
            all give the same result where they apply.

    Returns:
        :class:`VoxelizeResult` ``(voxels (M, max_points_per_voxel, C), coords (M, 3) int32
        (z, y, x), num_points (M,) int32)`` with M <= max_voxels, on the points' device.
    """
    if points.dim() != 2 or points.shape[1] < 3:
        raise ValueError('points must have shape (N, C>=3) as (x, y, z, ...), '
                         f'got {tuple(points.shape)}')
    if max_points_per_voxel < 1 or max_voxels < 1:
        raise ValueError(f'max_points_per_voxel and max_voxels must be >= 1, got '
                         f'{max_points_per_voxel} and {max_voxels}')
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    nx, ny, nz = grid_shape(voxel_size, point_cloud_range)
    device, num_feats = points.device, points.shape[1]
    compiled_ok = device.type == 'cpu' and points.dtype == torch.float32 and deterministic
    if backend in ('spconv', 'native') and not compiled_ok:
        raise ValueError(f'backend={backend!r} needs float32 CPU points and deterministic=True, '
                         f'got {points.dtype} on {device}, deterministic={deterministic}; use '
                         "backend='torch' or 'auto'")
    if backend == 'native' or (backend == 'auto' and compiled_ok):
        kernels = native.load()
        if kernels is not None:
            voxels, coords, num_points = kernels.hard_voxelize(
                points, [float(v) for v in voxel_size],
                [float(v) for v in point_cloud_range[:3]], [nx, ny, nz],
                int(max_points_per_voxel), int(max_voxels))
            return VoxelizeResult(voxels, coords, num_points)
        if backend == 'native':
            raise RuntimeError("backend='native': the C++ kernel could not be built "
                               f'({native.load_error() or "PERCEPTION_KD_NATIVE=0"}); use '
                               "backend='auto'")
        if nx * ny * nz <= SPCONV_MAX_CELLS:
            backend = 'spconv'
    if backend == 'spconv':
        return _voxelize_spconv(points, voxel_size, point_cloud_range, max_points_per_voxel,
                                max_voxels)

    # Voxel index per point, in the points' dtype (as mmcv/spconv); drop out-of-grid points.
    cell = _point_cells(points, voxel_size, point_cloud_range)                 # (N, 3) x, y, z
    dims = torch.tensor([nx, ny, nz], device=device)
    point_ids = ((cell >= 0) & (cell < dims)).all(1).nonzero().squeeze(1)     # (K,) in range
    key = (cell[:, 2] * ny + cell[:, 1]) * nx + cell[:, 0]                     # raster (z, y, x)
    key = key.index_select(0, point_ids)

    # Group points by voxel; the stable sort keeps point order inside each voxel.
    key_sorted, order = torch.sort(key, stable=True)
    uniq, counts = torch.unique_consecutive(key_sorted, return_counts=True)    # (U,)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(key), device=device) - torch.repeat_interleave(starts, counts)
    if deterministic:
        first_point = order.index_select(0, starts)   # earliest point of each voxel (stable)
        voxel_order = torch.argsort(first_point)
    else:
        voxel_order = torch.arange(len(uniq), device=device)
    voxel_order = voxel_order[:max_voxels]                                     # (M,)
    rank = torch.full((len(uniq),), -1, dtype=torch.long, device=device)
    rank.scatter_(0, voxel_order, torch.arange(len(voxel_order), device=device))
    point_rank = torch.repeat_interleave(rank, counts)                         # per sorted point

    # Scatter the kept points (sorted position -> (voxel rank, slot)) into the padded voxels.
    kept = ((point_rank >= 0) & (slot < max_points_per_voxel)).nonzero().squeeze(1)
    target = point_rank.index_select(0, kept) * max_points_per_voxel + slot.index_select(0, kept)
    source = point_ids.index_select(0, order.index_select(0, kept))
    voxels = points.new_zeros((len(voxel_order) * max_points_per_voxel, num_feats))
    voxels.index_copy_(0, target, points.index_select(0, source))
    voxels = voxels.view(len(voxel_order), max_points_per_voxel, num_feats)

    key_kept = uniq.index_select(0, voxel_order)
    coords = torch.stack([key_kept // (nx * ny), (key_kept // nx) % ny, key_kept % nx], 1)
    num_points = counts.index_select(0, voxel_order).clamp(max=max_points_per_voxel)
    return VoxelizeResult(voxels, coords.int(), num_points.int())


def _voxelize_spconv(points: torch.Tensor, voxel_size, point_cloud_range,
                     max_points_per_voxel: int, max_voxels: int) -> VoxelizeResult:
    """:func:`voxelize` by spconv's CPU ``PointToVoxel`` (one per geometry and thread)."""
    from spconv.pytorch.utils import PointToVoxel
    key = (tuple(float(v) for v in voxel_size), tuple(float(v) for v in point_cloud_range),
           points.shape[1], int(max_points_per_voxel), int(max_voxels))
    cache = getattr(_SPCONV_CACHE, 'generators', None)
    if cache is None:
        cache = _SPCONV_CACHE.generators = {}
    generator = cache.get(key)
    if generator is None:
        if len(cache) >= 4:     # a few geometries (train/test caps); drop the oldest
            del cache[next(iter(cache))]
        generator = cache[key] = PointToVoxel(
            vsize_xyz=list(key[0]), coors_range_xyz=list(key[1]), num_point_features=key[2],
            max_num_voxels=key[4], max_num_points_per_voxel=key[3])
    voxels, coords, num_points = generator(points.contiguous())   # copies, not its buffers
    return VoxelizeResult(voxels, coords.int(), num_points.int())


def voxelize_batch(points_list: Sequence[torch.Tensor],
                   voxel_size: Sequence[float],
                   point_cloud_range: Sequence[float],
                   max_points_per_voxel: int,
                   max_voxels: int,
                   deterministic: bool = True,
                   backend: str = 'auto') -> VoxelizeResult:
    """Voxelize each cloud of a batch and concatenate, prepending the sample index.

    Args:
        points_list: B tensors (N_b, C), same C; see :func:`voxelize` for the others
            (``max_voxels`` applies per sample).

    Returns:
        :class:`VoxelizeResult` with voxels (sum M_b, P, C), coords (sum M_b, 4) int32
        ``(b, z, y, x)`` and num_points (sum M_b,) int32, samples in batch order.
    """
    if len(points_list) == 0:
        raise ValueError('voxelize_batch needs at least one point cloud')
    outs = [voxelize(p, voxel_size, point_cloud_range, max_points_per_voxel, max_voxels,
                     deterministic, backend) for p in points_list]
    coords = [torch.nn.functional.pad(o.coords, (1, 0), value=b) for b, o in enumerate(outs)]
    return VoxelizeResult(torch.cat([o.voxels for o in outs]), torch.cat(coords),
                          torch.cat([o.num_points for o in outs]))


def voxelize_points(points_list: Sequence[torch.Tensor],
                    voxel_size: Sequence[float],
                    point_cloud_range: Sequence[float],
                    reduce: str = 'mean',
                    clip: bool = True) -> PointVoxelMap:
    """Unique voxels of a batch of clouds with the map from every point to its voxel.

    Args:
        points_list: B tensors (N_b, C), C >= 3, columns ``x, y, z, ...`` (LiDAR frame).
        voxel_size, point_cloud_range: the grid, as :func:`voxelize`.
        reduce: ``'mean'`` (average of the voxel's point features, all columns) or
            ``'first'`` (the features of its first point in input order).
        clip: True moves a point outside the range into the nearest border voxel (so every
            point keeps a voxel and a prediction); False leaves it out (``point2voxel`` -1).

    Returns:
        :class:`PointVoxelMap`; a cloud with no (kept) point has no voxel.
    """
    if reduce not in ('mean', 'first'):
        raise ValueError(f"reduce must be 'mean' or 'first', got {reduce!r}")
    if len(points_list) == 0:
        raise ValueError('voxelize_points needs at least one point cloud')
    for b, points in enumerate(points_list):
        if points.dim() != 2 or points.shape[1] < 3:
            raise ValueError(f'cloud {b} must have shape (N, C>=3), got {tuple(points.shape)}')
    points = torch.cat(list(points_list))
    device = points.device
    counts = torch.tensor([len(p) for p in points_list], device=device)
    batch = torch.repeat_interleave(torch.arange(len(points_list), device=device), counts)
    nx, ny, nz = grid_shape(voxel_size, point_cloud_range)
    dims = torch.tensor([nx, ny, nz], device=device)
    cell = _point_cells(points, voxel_size, point_cloud_range)                 # (N, 3) x, y, z
    if clip:
        cell = torch.minimum(cell.clamp(min=0), dims - 1)
        inside = torch.arange(len(points), device=device)
    else:
        inside = ((cell >= 0) & (cell < dims)).all(1).nonzero().squeeze(1)
    cell, batch = cell[inside], batch[inside]
    key = ((batch * nz + cell[:, 2]) * ny + cell[:, 1]) * nx + cell[:, 0]
    uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)      # (M,), (K,)
    feats = points[inside]
    if reduce == 'mean':
        num = torch.zeros(len(uniq), device=device, dtype=feats.dtype).index_add_(
            0, inverse, feats.new_ones(len(inverse)))
        features = feats.new_zeros((len(uniq), feats.shape[1])).index_add_(0, inverse, feats)
        features = features / num.unsqueeze(1)
    else:
        first = torch.full((len(uniq),), len(inverse), dtype=torch.long, device=device)
        first.scatter_reduce_(0, inverse, torch.arange(len(inverse), device=device), 'amin')
        features = feats[first]
    coords = torch.stack([uniq // (nx * ny * nz), (uniq // (nx * ny)) % nz,
                          (uniq // nx) % ny, uniq % nx], 1).int()
    point2voxel = torch.full((len(points),), -1, dtype=torch.long, device=device)
    point2voxel[inside] = inverse
    voxels_per_sample = torch.bincount(coords[:, 0].long(), minlength=len(points_list))
    return PointVoxelMap(features, coords, point2voxel, counts.long(), voxels_per_sample)


@MODELS.register_module()
class Voxelization(nn.Module):
    """Hard voxelization layer (no parameters), e.g. for a data preprocessor.

    Args:
        voxel_size, point_cloud_range, max_num_points, deterministic, backend: see
            :func:`voxelize`.
        max_voxels: an int, or ``(train, test)`` caps picked by ``self.training``
            (as mmdet3d's ``Voxelization``).

    ``forward(points)`` takes one (N, C) tensor -> coords (M, 3) ``(z, y, x)``, or a list of
    clouds -> coords (M, 4) ``(b, z, y, x)``; returns a :class:`VoxelizeResult`.
    """

    def __init__(self,
                 voxel_size: Sequence[float],
                 point_cloud_range: Sequence[float],
                 max_num_points: int,
                 max_voxels: int | Sequence[int] = 20000,
                 deterministic: bool = True, backend: str = 'auto'):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        self.backend = backend
        self.voxel_size, self.point_cloud_range = _check_geometry(voxel_size, point_cloud_range)
        self.max_num_points = int(max_num_points)
        if isinstance(max_voxels, int):
            max_voxels = (max_voxels, max_voxels)
        if len(max_voxels) != 2:
            raise ValueError(f'max_voxels must be an int or (train, test), got {max_voxels}')
        self.max_voxels = tuple(int(v) for v in max_voxels)
        self.deterministic = deterministic
        # (x, y, z) voxel counts; spconv's spatial_shape is the reverse, (z, y, x).
        self.grid_shape = grid_shape(self.voxel_size, self.point_cloud_range)

    def forward(self, points: torch.Tensor | Sequence[torch.Tensor]) -> VoxelizeResult:
        max_voxels = self.max_voxels[0] if self.training else self.max_voxels[1]
        args = (self.voxel_size, self.point_cloud_range, self.max_num_points, max_voxels,
                self.deterministic, self.backend)
        if isinstance(points, torch.Tensor):
            return voxelize(points, *args)
        return voxelize_batch(points, *args)

    def extra_repr(self) -> str:
        return (f'voxel_size={self.voxel_size}, point_cloud_range={self.point_cloud_range}, '
                f'max_num_points={self.max_num_points}, max_voxels={self.max_voxels}, '
                f'deterministic={self.deterministic}, backend={self.backend!r}')


def _point_cells(points: torch.Tensor, voxel_size: Sequence[float],
                 point_cloud_range: Sequence[float]) -> torch.Tensor:
    """(N, C>=3) points -> (N, 3) long ``(x, y, z)`` voxel indices ``floor((p - min) / size)``,
    computed in the points' dtype (float32 for integer points); not bounded to the grid."""
    dtype = points.dtype if points.is_floating_point() else torch.float32
    lower = torch.tensor(point_cloud_range[:3], dtype=dtype, device=points.device)
    size = torch.tensor(voxel_size, dtype=dtype, device=points.device)
    return torch.floor((points[:, :3].to(dtype) - lower) / size).long()


def _check_geometry(voxel_size, point_cloud_range):
    voxel_size = [float(v) for v in voxel_size]
    point_cloud_range = [float(v) for v in point_cloud_range]
    if len(voxel_size) != 3 or min(voxel_size) <= 0:
        raise ValueError(f'voxel_size must be 3 positive lengths (dx, dy, dz), got {voxel_size}')
    if len(point_cloud_range) != 6 or any(point_cloud_range[i + 3] <= point_cloud_range[i]
                                          for i in range(3)):
        raise ValueError('point_cloud_range must be (x_min, y_min, z_min, x_max, y_max, z_max) '
                         f'with max > min, got {point_cloud_range}')
    return voxel_size, point_cloud_range
