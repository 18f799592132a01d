"""Contrastive losses of image-to-LiDAR pretraining (SLidR / SuperFlow / LiMA).

- :func:`region_infonce`: InfoNCE between pooled 3D region features ``k`` and pooled 2D
  region targets ``q`` (row i of each is region i): ``logits = k @ q.T / T`` and the
  cross-entropy against the diagonal (SLidR's superpixel-driven loss, T = 0.07).
- :func:`cross_sequence_alignment`: LiMA's cross-sequence memory alignment as written down
  in ``docs/lima.md``: regions of *different* scenes whose memory-fused image targets are
  mutual nearest neighbours (cosine >= ``threshold``) are positives for the 3D features,
  the other regions of the other scene negatives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['region_infonce', 'cross_sequence_alignment', 'mutual_nearest_pairs']


def region_infonce(k: Tensor, q: Tensor, temperature: float = 0.07,
                   max_regions: int | None = None, generator: torch.Generator | None = None
                   ) -> Tensor:
    """InfoNCE over regions: (R, C) L2-normalised 3D features ``k`` and 2D targets ``q``.

    ``max_regions`` caps R by a random subset (the cost is R^2); with fewer than 2
    regions the loss is a graph-connected zero.
    """
    if k.shape != q.shape:
        raise ValueError(f'k {tuple(k.shape)} and q {tuple(q.shape)} must have the same shape')
    if max_regions is not None and len(k) > max_regions:
        keep = torch.randperm(len(k), generator=generator, device='cpu')[:max_regions].to(k.device)
        k, q = k[keep], q[keep]
    if len(k) < 2:
        return k.sum() * 0.0
    logits = k @ q.t() / temperature
    target = torch.arange(len(k), device=k.device)
    return F.cross_entropy(logits, target)


def mutual_nearest_pairs(a: Tensor, b: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Indices (i, j) of rows of ``a`` (P, C) and ``b`` (Q, C) (L2-normalised) that are each
    other's nearest neighbour with cosine similarity >= ``threshold``."""
    if len(a) == 0 or len(b) == 0:
        empty = torch.zeros(0, dtype=torch.long, device=a.device)
        return empty, empty
    sim = a @ b.t()
    best_b = sim.argmax(1)
    best_a = sim.argmax(0)
    i = torch.arange(len(a), device=a.device)
    mutual = (best_a[best_b] == i) & (sim[i, best_b] >= threshold)
    return i[mutual], best_b[mutual]


def cross_sequence_alignment(k: Tensor, q: Tensor, scene: Tensor, temperature: float = 0.07,
                             threshold: float = 0.8) -> tuple[Tensor, int]:
    """Cross-sequence memory alignment over the regions of a batch.

    Args:
        k: (R, C) L2-normalised pooled 3D features of the regions.
        q: (R, C) L2-normalised memory-fused image targets of the same regions (no grad).
        scene: (R,) int64 scene (sequence) id of each region.
    For every ordered pair of scenes (a, b), a != b, the mutual nearest neighbours of a's
    and b's targets (cosine >= ``threshold``) are matched; the loss is the InfoNCE of
    ``k_a[i]`` against all of b's 3D features with ``k_b[j]`` as the positive, averaged over
    the matches of all pairs. Returns (loss, number of matches); zero without matches.
    """
    q = q.detach()
    losses, matches = [], 0
    scenes = torch.unique(scene)
    for sa in scenes:
        for sb in scenes:
            if sa == sb:
                continue
            ia = torch.nonzero(scene == sa).squeeze(1)
            ib = torch.nonzero(scene == sb).squeeze(1)
            i, j = mutual_nearest_pairs(q[ia], q[ib], threshold)
            if len(i) == 0:
                continue
            logits = k[ia[i]] @ k[ib].t() / temperature
            losses.append(F.cross_entropy(logits, j, reduction='sum'))
            matches += len(i)
    if not matches:
        return k.sum() * 0.0, 0
    return torch.stack(losses).sum() / matches, matches
