"""LiMA's Cross-View Aggregation: one target per 3D region seen by two cameras.

Neighbouring nuScenes cameras overlap at their borders, so one 3D region shows up as two
superpixels (one per camera). Left alone, SLidR's InfoNCE treats the two copies as
different "classes": each copy is a false negative of the other, and the two targets
conflict. Here the copies are found through the 3D points both cameras see (never by
image position) and fused:

- link: two regions of different cameras of the same sample are linked when they share
  at least ``min_shared`` paired points and those are at least ``min_fraction`` of the
  smaller region's paired points;
- merge: linked regions form connected components (a region linked to two others joins
  both);
- fuse (the operator): the target of a merged region G is the pixel-count weighted mean
  of its members' pooled image features, ``q_G = sum_r n_r q_r / sum_r n_r`` (then
  L2-normalised by the caller), i.e. the mean over all pixels of all its copies; its 3D
  feature is pooled over the union of the members' points, each point once.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .regions import Regions, scatter_mean

__all__ = ['overlap_links', 'merge_regions', 'fuse_groups']


def overlap_links(pairs: Tensor, regions: Regions) -> tuple[Tensor, Tensor]:
    """Region pairs seen through shared points: (links (L, 2) int64 with r1 < r2 and
    regions of different cameras, shared point count (L,))."""
    keep = regions.pair_region >= 0
    p, region = pairs[keep], regions.pair_region[keep]
    if len(p) < 2:
        return pairs.new_zeros((0, 2)), pairs.new_zeros(0)
    point_key = p[:, 0] * (int(p[:, 1].max()) + 1) + p[:, 1]
    order = torch.argsort(point_key, stable=True)
    point_key, region, cam = point_key[order], region[order], p[order, 2]
    # every ordered pair of pairs of the same point: consecutive ones suffice for 2 views;
    # for 3+ views (rare) the chain still connects them all.
    same = (point_key[1:] == point_key[:-1]) & (cam[1:] != cam[:-1])
    r1, r2 = region[:-1][same], region[1:][same]
    lo, hi = torch.minimum(r1, r2), torch.maximum(r1, r2)
    key = lo * len(regions) + hi
    uniq, counts = torch.unique(key, return_counts=True)
    return torch.stack([uniq // len(regions), uniq % len(regions)], 1), counts


def merge_regions(pairs: Tensor, regions: Regions, min_shared: int = 3,
                  min_fraction: float = 0.3) -> tuple[Tensor, int, Tensor]:
    """Connected components of linked regions.

    Returns (group (R,) int64 in 0..G-1, G, the accepted links (L', 2)).
    """
    links, shared = overlap_links(pairs, regions)
    smaller = torch.minimum(regions.num_points[links[:, 0]], regions.num_points[links[:, 1]])
    accept = (shared >= min_shared) & (shared >= min_fraction * smaller)
    links = links[accept]
    label = torch.arange(len(regions), device=pairs.device)
    for _ in range(len(regions) + 1):   # label propagation; converges in a few rounds
        low = torch.minimum(label[links[:, 0]], label[links[:, 1]])
        new = label.clone()
        new.scatter_reduce_(0, links[:, 0], low, reduce='amin')
        new.scatter_reduce_(0, links[:, 1], low, reduce='amin')
        new = new[new]                  # pointer jumping
        if torch.equal(new, label):
            break
        label = new
    uniq, group = torch.unique(label, return_inverse=True)
    return group, len(uniq), links


def fuse_groups(q: Tensor, pixel_counts: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """The fusion operator: pixel-count weighted mean of member targets -> (G, C)."""
    weights = pixel_counts.clamp(min=1).to(q.dtype).unsqueeze(1)
    total, _ = scatter_mean(q * weights, group, num_groups)
    norm, _ = scatter_mean(weights, group, num_groups)
    return total / norm
