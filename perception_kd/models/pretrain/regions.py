"""Superpixel regions of a batch: pooling of 3D point features and 2D pixel features.

A *region* is one superpixel of one camera image of one sample. Its global id in the
batch is ``(sample * num_cams + cam) * max_segments + segment`` before compaction; every
function here works on compact ids ``0..R-1`` (:func:`region_ids_of_pairs`).

Inputs, per batch (samples concatenated):
- pairs ``(M, 5)`` int64 ``[sample, point, cam, row, col]``: point ``point`` (index into
  that sample's cloud) projects onto pixel ``(row, col)`` of camera ``cam``; a point seen by
  two cameras appears twice (``structures.projection``).
- superpixels ``(B, Ncam, H, W)`` int64: segment id per pixel, 0 = no segment.

Outputs are :class:`Regions`: per region its sample, camera, segment, the number of paired
points, and the pair -> region map, so that both modalities are pooled on the same regions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['Regions', 'normalize', 'region_ids_of_pairs', 'pool_points', 'pool_pixels',
           'scatter_mean']


@dataclass
class Regions:
    """The non-empty regions of a batch (superpixels with at least one paired point).

    Attributes:
        sample, cam, segment: (R,) int64 of each region.
        pair_region: (M,) int64, region of every pair, -1 for pairs on segment 0.
        num_points: (R,) int64 paired points per region.
    """
    sample: Tensor
    cam: Tensor
    segment: Tensor
    pair_region: Tensor
    num_points: Tensor

    def __len__(self) -> int:
        return int(self.sample.numel())


def scatter_mean(values: Tensor, index: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Mean of ``values`` (M, C) rows grouped by ``index`` (M,) in ``0..size-1``.

    Returns (means (size, C), counts (size,)); empty groups are 0.
    """
    out = values.new_zeros(size, values.shape[1])
    out.index_add_(0, index, values)
    counts = torch.bincount(index, minlength=size)
    return out / counts.clamp(min=1).unsqueeze(1).to(values.dtype), counts


def region_ids_of_pairs(pairs: Tensor, superpixels: Tensor) -> Regions:
    """Assign every pair to its superpixel region; keep regions with >= 1 paired point."""
    if pairs.ndim != 2 or pairs.shape[1] != 5:
        raise ValueError(
            f'pairs must be (M, 5) [sample, point, cam, row, col], got {tuple(pairs.shape)}'
        )
    b, ncam, height, width = superpixels.shape
    sample, cam, row, col = pairs[:, 0], pairs[:, 2], pairs[:, 3], pairs[:, 4]
    if len(pairs) and (row.max() >= height or col.max() >= width or cam.max() >= ncam
                       or sample.max() >= b or pairs.min() < 0):
        raise ValueError('pairs index outside the superpixel maps '
                         f'(B={b}, Ncam={ncam}, H={height}, W={width}); pair the points after the '
                         'last image transform (PointImagePairing after ImageAug3D)')
    segment = superpixels[sample, cam, row, col]
    valid = segment > 0
    max_seg = int(superpixels.max().item()) + 1 if superpixels.numel() else 1
    key = (sample * ncam + cam) * max_seg + segment
    uniq, inverse = torch.unique(key[valid], return_inverse=True)
    pair_region = torch.full_like(segment, -1)
    pair_region[valid] = inverse
    num_points = torch.bincount(inverse, minlength=len(uniq))
    seg = uniq % max_seg
    sample_cam = uniq // max_seg
    return Regions(sample=sample_cam // ncam, cam=sample_cam % ncam, segment=seg,
                   pair_region=pair_region, num_points=num_points)


def pool_points(point_feats: Tensor, pairs: Tensor, pair_group: Tensor, num_groups: int,
                offsets: Tensor) -> Tensor:
    """Mean 3D feature of the points paired into each group -> (G, C).

    ``pair_group`` (M,) maps every pair to a group (a region, or a merged cross-view region;
    -1: none); a point paired twice into the same group (seen by two cameras whose regions
    were merged) counts once. ``point_feats`` (N_total, C) holds the batch's points
    concatenated; ``offsets`` (B,) the index of each sample's first point.
    """
    keep = pair_group >= 0
    rows = offsets[pairs[keep, 0]] + pairs[keep, 1]
    group = pair_group[keep]
    key = torch.unique(group * len(point_feats) + rows)
    group, rows = key // len(point_feats), key % len(point_feats)
    pooled, _ = scatter_mean(point_feats[rows], group, num_groups)
    return pooled


def pool_pixels(pixel_feats: Tensor, superpixels: Tensor, regions: Regions,
                pairs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Mean 2D feature of the pixels of each region -> ((R, C), pixel counts (R,)).

    ``pixel_feats`` (B, Ncam, C, h, w) may be coarser than ``superpixels`` (B, Ncam, H, W):
    the segment map is sampled at the feature cells' centres (nearest). A region too small
    to own a cell at that resolution is pooled from the cells under its paired points
    instead (``pairs`` required then), so that every region gets a target.
    """
    b, ncam, chans, h, w = pixel_feats.shape
    height, width = superpixels.shape[-2:]
    rows = (
        ((torch.arange(h, device=superpixels.device) + 0.5) * height / h)
        .long()
        .clamp(max=height - 1)
    )
    cols = (
        ((torch.arange(w, device=superpixels.device) + 0.5) * width / w).long().clamp(max=width - 1)
    )
    seg_small = superpixels[:, :, rows][:, :, :, cols]                    # (B, Ncam, h, w)
    max_seg = int(superpixels.max().item()) + 1 if superpixels.numel() else 1
    region_of_key = _region_lookup(regions, ncam, max_seg, b, superpixels.device)
    sample_cam = torch.arange(b * ncam, device=superpixels.device).view(b, ncam, 1, 1)
    cell_region = region_of_key[(sample_cam * max_seg + seg_small).flatten()]
    feats = pixel_feats.permute(0, 1, 3, 4, 2).reshape(-1, chans)
    hit = cell_region >= 0
    pooled, counts = scatter_mean(feats[hit], cell_region[hit], len(regions))
    missing = counts == 0
    if missing.any():
        if pairs is None:
            raise ValueError('regions without a feature cell need the pairs to be pooled')
        pair_region = regions.pair_region
        take = (pair_region >= 0) & missing[pair_region.clamp(min=0)]
        p = pairs[take]
        r = (p[:, 3] * h // height).clamp(max=h - 1)
        c = (p[:, 4] * w // width).clamp(max=w - 1)
        cell = ((p[:, 0] * ncam + p[:, 2]) * h + r) * w + c
        fill, _ = scatter_mean(feats[cell], pair_region[take], len(regions))
        pooled = torch.where(missing.unsqueeze(1), fill, pooled)
    return pooled, counts


def _region_lookup(regions: Regions, ncam: int, max_seg: int, b: int, device) -> Tensor:
    """Dense table (B * Ncam * max_seg,) -> region index or -1."""
    table = torch.full((b * ncam * max_seg,), -1, dtype=torch.long, device=device)
    key = (regions.sample * ncam + regions.cam) * max_seg + regions.segment
    table[key] = torch.arange(len(regions), device=device)
    return table


def normalize(x: Tensor) -> Tensor:
    """L2-normalise rows."""
    return F.normalize(x, dim=-1, eps=1e-8)
