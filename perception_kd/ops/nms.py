"""Rotated BEV IoU and the two NMS flavours of BEV detectors, in torch.

Boxes are LiDAR-frame ``(x, y, z, l, w, h, yaw, ...)`` (yaw counter-clockwise from +x to
the length axis); only their BEV footprint ``(x, y, l, w, yaw)`` is used here.

The intersection of two rotated rectangles is computed exactly by Sutherland-Hodgman
clipping: one rectangle is clipped by the four edges (half-planes) of the other, for all
pairs at once on padded polygons, and the clipped polygon's area comes from the
shoelace formula.
"""
from __future__ import annotations

import numpy as np
import torch

from ..structures.boxes import bev_corners

__all__ = ['bev_iou', 'bev_iou_aligned', 'bev_intersection_area', 'nms_bev', 'circle_nms']

_PAIR_CHUNK = 250_000   # pairs clipped at once (memory ~ chunk * 16 vertices * 2 * 8 bytes * few)


def bev_intersection_area(corners_a: torch.Tensor, corners_b: torch.Tensor) -> torch.Tensor:
    """Areas (P,) of the intersections of pairs of convex quadrilaterals.

    Args:
        corners_a: (P, 4, 2) counter-clockwise corners (as :func:`bev_corners` returns).
        corners_b: (P, 4, 2) counter-clockwise corners; must be convex (the clip polygon).
    """
    if corners_a.shape != corners_b.shape or corners_a.shape[1:] != (4, 2):
        raise ValueError(f'need two (P, 4, 2) corner arrays, got {tuple(corners_a.shape)} and '
                         f'{tuple(corners_b.shape)}')
    num = len(corners_a)
    if num == 0:
        return corners_a.new_zeros(0)
    # Work relative to a's centre: the shoelace sum of far-off coordinates cancels badly.
    origin = corners_a.mean(1, keepdim=True)
    poly, corners_b = corners_a - origin, corners_b - origin
    count = torch.full((num,), 4, dtype=torch.long, device=poly.device)
    for edge in range(4):
        start, end = corners_b[:, edge], corners_b[:, (edge + 1) % 4]
        poly, count = _clip_half_plane(poly, count, start, end)
    return _polygon_area(poly, count)


def bev_iou_aligned(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """BEV IoU (P,) of row-aligned box pairs: ``boxes_a[i]`` with ``boxes_b[i]``, both (P, 7+)."""
    _check_boxes(boxes_a)
    _check_boxes(boxes_b)
    if boxes_a.shape[0] != boxes_b.shape[0]:
        raise ValueError(f'bev_iou_aligned needs as many boxes in both sets, got {len(boxes_a)} '
                         f'and {len(boxes_b)}')
    inter = torch.cat([bev_intersection_area(bev_corners(a), bev_corners(b))
                       for a, b in zip(boxes_a.split(_PAIR_CHUNK), boxes_b.split(_PAIR_CHUNK))]) \
        if len(boxes_a) else boxes_a.new_zeros(0)
    union = boxes_a[:, 3] * boxes_a[:, 4] + boxes_b[:, 3] * boxes_b[:, 4] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    return iou.clamp(0.0, 1.0)


def bev_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Pairwise BEV IoU (N, M) of boxes (N, 7+) and (M, 7+).

    Only pairs whose circumscribed circles overlap are clipped; the others are 0.
    """
    _check_boxes(boxes_a)
    _check_boxes(boxes_b)
    iou = boxes_a.new_zeros((len(boxes_a), len(boxes_b)))
    if iou.numel() == 0:
        return iou
    radius_a = 0.5 * torch.hypot(boxes_a[:, 3], boxes_a[:, 4])
    radius_b = 0.5 * torch.hypot(boxes_b[:, 3], boxes_b[:, 4])
    dist = torch.cdist(boxes_a[:, :2], boxes_b[:, :2],
                       compute_mode='donot_use_mm_for_euclid_dist')   # exact, no matmul trick
    rows, cols = (dist < radius_a[:, None] + radius_b[None, :]).nonzero(as_tuple=True)
    iou[rows, cols] = bev_iou_aligned(boxes_a[rows], boxes_b[cols])
    return iou


def nms_bev(boxes: torch.Tensor,
            scores: torch.Tensor,
            iou_threshold: float,
            pre_max: int | None = None,
            post_max: int | None = None) -> torch.Tensor:
    """Greedy NMS on rotated BEV IoU.

    Args:
        boxes: (N, 7+) boxes; scores: (N,).
        iou_threshold: a box is suppressed by a kept, higher-scored box if their IoU is
            strictly greater than this (as mmcv's ``nms_bev``).
        pre_max: consider only the ``pre_max`` highest-scored boxes (None: all).
        post_max: return at most this many (None: all).

    Returns:
        (K,) long indices into ``boxes``, by decreasing score.
    """
    _check_boxes(boxes)
    order = _score_order(scores, len(boxes), pre_max)
    candidates = boxes[order]
    suppress = bev_iou(candidates, candidates) > iou_threshold
    return order[_greedy_keep(suppress, post_max)]


def circle_nms(centres: torch.Tensor,
               scores: torch.Tensor,
               dist_threshold: float,
               post_max: int | None = None) -> torch.Tensor:
    """CenterPoint's circle NMS: keep the highest score, drop others within a distance.

    Args:
        centres: (N, 2+) BEV centres ``(x, y, ...)`` in metres; scores: (N,).
        dist_threshold: a box whose centre lies within this distance (metres, inclusive)
            of a kept, higher-scored box is suppressed. CenterPoint's code compares its
            ``min_radius`` config values to the *squared* distance; to reproduce it pass
            ``dist_threshold=sqrt(min_radius)``.
        post_max: return at most this many (None: all).

    Returns:
        (K,) long indices into ``centres``, by decreasing score.
    """
    if centres.dim() != 2 or centres.shape[1] < 2:
        raise ValueError(f'centres must have shape (N, 2+), got {tuple(centres.shape)}')
    order = _score_order(scores, len(centres), None)
    xy = centres[order, :2]
    sq_dist = (xy[:, None, :] - xy[None, :, :]).pow(2).sum(-1)
    return order[_greedy_keep(sq_dist <= dist_threshold ** 2, post_max)]


def _clip_half_plane(poly: torch.Tensor, count: torch.Tensor, start: torch.Tensor,
                     end: torch.Tensor):
    """Clip padded polygons (P, K, 2) with ``count`` (P,) vertices by the half-plane left of
    the directed line start -> end (P, 2 each). Returns the compacted polygons and counts."""
    num, slots = poly.shape[:2]
    idx = torch.arange(slots, device=poly.device)
    nxt_idx = (idx[None, :] + 1) % count.clamp(min=1)[:, None]                  # (P, K)
    nxt = poly.gather(1, nxt_idx[..., None].expand(-1, -1, 2))
    direction = (end - start)[:, None, :]
    rel = poly - start[:, None, :]
    side = direction[..., 0] * rel[..., 1] - direction[..., 1] * rel[..., 0]    # >= 0: inside
    side_nxt = side.gather(1, nxt_idx)
    valid = idx[None, :] < count[:, None]
    inside, inside_nxt = side >= 0, side_nxt >= 0
    emit_vertex = valid & inside
    emit_cross = valid & (inside != inside_nxt)
    # Signs differ on a crossing, so the denominator is non-zero there.
    t = side / torch.where(emit_cross, side - side_nxt, torch.ones_like(side))
    cross_point = poly + t[..., None] * (nxt - poly)
    cand = torch.stack([poly, cross_point], 2).reshape(num, 2 * slots, 2)
    emit = torch.stack([emit_vertex, emit_cross], 2).reshape(num, 2 * slots)
    # Emitted vertices first, in order (stable sort).
    perm = torch.argsort((~emit).to(torch.uint8), dim=1, stable=True)
    cand = cand.gather(1, perm[..., None].expand(-1, -1, 2))
    count = emit.sum(1)
    return cand[:, :max(int(count.max()), 1)], count


def _polygon_area(poly: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Shoelace area (P,) of padded polygons (P, K, 2); padding repeats the first vertex."""
    valid = torch.arange(poly.shape[1], device=poly.device)[None, :] < count[:, None]
    poly = torch.where(valid[..., None], poly, poly[:, :1, :])
    nxt = poly.roll(-1, dims=1)
    cross = poly[..., 0] * nxt[..., 1] - poly[..., 1] * nxt[..., 0]
    return 0.5 * cross.sum(1).abs()


def _score_order(scores: torch.Tensor, num: int, pre_max: int | None) -> torch.Tensor:
    if scores.shape != (num,):
        raise ValueError(f'scores must have shape ({num},), got {tuple(scores.shape)}')
    order = torch.argsort(scores, descending=True, stable=True)
    return order[:pre_max] if pre_max is not None else order


def _greedy_keep(suppress: torch.Tensor, post_max: int | None) -> torch.Tensor:
    """Greedy selection over candidates sorted by score: keep i unless a kept j < i has
    ``suppress[j, i]``. suppress: (K, K) bool. Returns kept positions (long, sorted)."""
    if post_max is not None and post_max <= 0:
        return torch.zeros(0, dtype=torch.long, device=suppress.device)
    matrix = suppress.cpu().numpy()
    num = len(matrix)
    removed = np.zeros(num, dtype=bool)
    keep = []
    for i in range(num):   # one iteration per candidate; the work per kept box is vectorised
        if removed[i]:
            continue
        keep.append(i)
        if post_max is not None and len(keep) >= post_max:
            break
        removed[i + 1:] |= matrix[i, i + 1:]
    return torch.as_tensor(keep, dtype=torch.long, device=suppress.device)


def _check_boxes(boxes: torch.Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[1] < 7:
        raise ValueError('boxes must have shape (N, 7+) as (x, y, z, l, w, h, yaw, ...), '
                         f'got {tuple(boxes.shape)}')
