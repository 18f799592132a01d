"""Which points lie in which 3D boxes, in torch (the twin of
:func:`perception_kd.structures.points_in_boxes` for numpy).

Points and boxes share one frame (usually LiDAR). Boxes are ``(x, y, z, l, w, h, yaw, ...)``
with (x, y, z) the geometric centre and yaw counter-clockwise from +x to the length axis.
Intervals are closed, as in nuScenes' ``points_in_box``: a point on a face is inside.

Two methods give the same answer bit for bit (the same float operations on each
point-box pair): ``'dense'`` tests every pair; ``'sorted'`` sorts the points by x once
and tests each box only against the points of its x strip (its rotated footprint's x
extent plus a rounding margin), so its cost follows the candidate pairs rather than
N x M. ``'auto'`` (default) takes ``'sorted'`` from :data:`SORTED_MIN_BOXES` boxes on.
"""
from __future__ import annotations

import torch

__all__ = ['points_in_boxes', 'points_in_boxes_idx', 'SORTED_MIN_BOXES']

# Elements of the (chunk, M) intermediates computed at once; bounds memory to ~100 MB.
_CHUNK_ELEMENTS = 4_000_000
# From this many boxes on, method='auto' uses the sorted strips (one sort of the points).
SORTED_MIN_BOXES = 4
METHODS = ('auto', 'dense', 'sorted')


def points_in_boxes(points: torch.Tensor, boxes: torch.Tensor,
                    method: str = 'auto') -> torch.Tensor:
    """Boolean mask (N, M): point n lies in box m.

    Args:
        points: (N, 3+) points ``(x, y, z, ...)``; extra columns are ignored.
        boxes: (M, 7+) boxes ``(x, y, z, l, w, h, yaw, ...)`` in the points' frame.
        method: ``'auto'``, ``'dense'`` or ``'sorted'`` (module docstring; same result).

    Computes in the promoted dtype of both inputs (pass float64 for bit-exact agreement
    with the numpy version), on the points' device, chunked.
    """
    _check(points, boxes, method)
    n, m = len(points), len(boxes)
    mask = torch.zeros((n, m), dtype=torch.bool, device=points.device)
    if n == 0 or m == 0:
        return mask
    dtype, boxes, cos, sin, half = _prepare(points, boxes)
    if _use_sorted(method, m):
        for point_ids, box_ids in _pairs_inside(points, boxes, cos, sin, half, dtype):
            mask[point_ids, box_ids] = True
        return mask
    chunk = max(1, _CHUNK_ELEMENTS // m)
    for start in range(0, n, chunk):
        rel = points[start:start + chunk, None, :3].to(dtype) - boxes[None, :, :3]    # (n, M, 3)
        local_x = rel[..., 0] * cos + rel[..., 1] * sin
        local_y = -rel[..., 0] * sin + rel[..., 1] * cos
        mask[start:start + chunk] = ((local_x.abs() <= half[:, 0]) & (local_y.abs() <= half[:, 1])
                                     & (rel[..., 2].abs() <= half[:, 2]))
    return mask


def points_in_boxes_idx(points: torch.Tensor, boxes: torch.Tensor,
                        method: str = 'auto') -> torch.Tensor:
    """Index (N,) long of the box containing each point, -1 where none does.

    A point inside several (overlapping) boxes gets the lowest box index, as mmcv's
    ``points_in_boxes_part``. Shapes, frames and ``method`` as :func:`points_in_boxes`
    (the sorted method never builds the (N, M) mask).
    """
    _check(points, boxes, method)
    if len(points) and len(boxes) and _use_sorted(method, len(boxes)):
        dtype, boxes_t, cos, sin, half = _prepare(points, boxes)
        index = torch.full((len(points),), len(boxes), dtype=torch.long, device=points.device)
        for point_ids, box_ids in _pairs_inside(points, boxes_t, cos, sin, half, dtype):
            index.scatter_reduce_(0, point_ids, box_ids, 'amin')
        return torch.where(index == len(boxes), torch.full_like(index, -1), index)
    mask = points_in_boxes(points, boxes, method='dense')
    if mask.shape[1] == 0:
        return torch.full((len(points),), -1, dtype=torch.long, device=points.device)
    first = mask.to(torch.uint8).argmax(1)      # argmax returns the first maximum
    return torch.where(mask.any(1), first, torch.full_like(first, -1))


def _prepare(points: torch.Tensor, boxes: torch.Tensor):
    """Compute dtype, boxes in it on the points' device, cos/sin of yaw, half sizes."""
    dtype = torch.promote_types(points.dtype, boxes.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    boxes = boxes.to(device=points.device, dtype=dtype)
    return dtype, boxes, boxes[:, 6].cos(), boxes[:, 6].sin(), boxes[:, 3:6] * 0.5


def _use_sorted(method: str, num_boxes: int) -> bool:
    return method == 'sorted' or (method == 'auto' and num_boxes >= SORTED_MIN_BOXES)


def _pairs_inside(points, boxes, cos, sin, half, dtype):
    """Yield (point indices, box indices) of the pairs inside, box group by box group.

    Candidates of box m: the points whose x lies in its footprint's x extent
    ``|l/2 cos| + |w/2 sin|`` widened by a margin far above float rounding; each candidate
    pair then gets exactly the dense test's arithmetic.
    """
    xyz = points[:, :3].to(dtype)
    order = torch.argsort(xyz[:, 0])
    sorted_x = xyz[:, 0].index_select(0, order).contiguous()
    extent = (half[:, 0] * cos).abs() + (half[:, 1] * sin).abs()
    margin = 1e-4 * (boxes[:, 0].abs() + extent + 1.0)
    start = torch.searchsorted(sorted_x, boxes[:, 0] - extent - margin)
    end = torch.searchsorted(sorted_x, boxes[:, 0] + extent + margin, right=True)
    lengths = (end - start).clamp(min=0)
    # groups of consecutive boxes with at most ~_CHUNK_ELEMENTS / 8 candidate pairs each
    bounds = torch.cumsum(lengths, 0).tolist()
    budget, first = max(1, _CHUNK_ELEMENTS // 8), 0
    while first < len(bounds):
        base = bounds[first - 1] if first else 0
        last = first
        while last + 1 < len(bounds) and bounds[last + 1] - base <= budget:
            last += 1
        group = slice(first, last + 1)
        first = last + 1
        counts = lengths[group]
        total = int(counts.sum())
        if total == 0:
            continue
        box_ids = torch.arange(group.start, group.stop, device=points.device)
        pair_box = torch.repeat_interleave(box_ids, counts)
        # position in sorted order: the box's strip start + rank of the pair inside its strip
        shift = torch.repeat_interleave(start[group] - (torch.cumsum(counts, 0) - counts), counts)
        pair_point = order.index_select(0, torch.arange(total, device=points.device) + shift)
        rel = xyz.index_select(0, pair_point) - boxes.index_select(0, pair_box)[:, :3]
        c, s = cos.index_select(0, pair_box), sin.index_select(0, pair_box)
        h = half.index_select(0, pair_box)
        local_x = rel[:, 0] * c + rel[:, 1] * s
        local_y = -rel[:, 0] * s + rel[:, 1] * c
        inside = ((local_x.abs() <= h[:, 0]) & (local_y.abs() <= h[:, 1])
                  & (rel[:, 2].abs() <= h[:, 2])).nonzero().squeeze(1)
        yield pair_point.index_select(0, inside), pair_box.index_select(0, inside)


def _check(points: torch.Tensor, boxes: torch.Tensor, method: str = 'auto') -> None:
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    if points.dim() != 2 or points.shape[1] < 3:
        raise ValueError('points must have shape (N, 3+) as (x, y, z, ...), '
                         f'got {tuple(points.shape)}')
    if boxes.dim() != 2 or boxes.shape[1] < 7:
        raise ValueError('boxes must have shape (M, 7+) as (x, y, z, l, w, h, yaw, ...), '
                         f'got {tuple(boxes.shape)}')
