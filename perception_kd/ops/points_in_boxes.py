"""Which points lie in which 3D boxes, in torch (the twin of
:func:`perception_kd.structures.points_in_boxes` for numpy).

Points and boxes share one frame (usually LiDAR). Boxes are ``(x, y, z, l, w, h, yaw, ...)``
with (x, y, z) the geometric centre and yaw counter-clockwise from +x to the length axis.
Intervals are closed, as in nuScenes' ``points_in_box``: a point on a face is inside.
"""
from __future__ import annotations

import torch

__all__ = ['points_in_boxes', 'points_in_boxes_idx']

# Elements of the (chunk, M) intermediates computed at once; bounds memory to ~100 MB.
_CHUNK_ELEMENTS = 4_000_000


def points_in_boxes(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Boolean mask (N, M): point n lies in box m.

    Args:
        points: (N, 3+) points ``(x, y, z, ...)``; extra columns are ignored.
        boxes: (M, 7+) boxes ``(x, y, z, l, w, h, yaw, ...)`` in the points' frame.

    Computes in the promoted dtype of both inputs (pass float64 for bit-exact agreement
    with the numpy version), on the points' device, chunked over points.
    """
    _check(points, boxes)
    n, m = len(points), len(boxes)
    mask = torch.zeros((n, m), dtype=torch.bool, device=points.device)
    if n == 0 or m == 0:
        return mask
    dtype = torch.promote_types(points.dtype, boxes.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    boxes = boxes.to(device=points.device, dtype=dtype)
    cos, sin = boxes[:, 6].cos(), boxes[:, 6].sin()
    half = boxes[:, 3:6] * 0.5
    chunk = max(1, _CHUNK_ELEMENTS // m)
    for start in range(0, n, chunk):
        rel = points[start:start + chunk, None, :3].to(dtype) - boxes[None, :, :3]    # (n, M, 3)
        local_x = rel[..., 0] * cos + rel[..., 1] * sin
        local_y = -rel[..., 0] * sin + rel[..., 1] * cos
        mask[start:start + chunk] = ((local_x.abs() <= half[:, 0]) & (local_y.abs() <= half[:, 1])
                                     & (rel[..., 2].abs() <= half[:, 2]))
    return mask


def points_in_boxes_idx(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Index (N,) long of the box containing each point, -1 where none does.

    A point inside several (overlapping) boxes gets the lowest box index, as mmcv's
    ``points_in_boxes_part``. Shapes and frames as :func:`points_in_boxes`.
    """
    mask = points_in_boxes(points, boxes)
    if mask.shape[1] == 0:
        return torch.full((len(points),), -1, dtype=torch.long, device=points.device)
    first = mask.to(torch.uint8).argmax(1)      # argmax returns the first maximum
    return torch.where(mask.any(1), first, torch.full_like(first, -1))


def _check(points: torch.Tensor, boxes: torch.Tensor) -> None:
    if points.dim() != 2 or points.shape[1] < 3:
        raise ValueError('points must have shape (N, 3+) as (x, y, z, ...), '
                         f'got {tuple(points.shape)}')
    if boxes.dim() != 2 or boxes.shape[1] < 7:
        raise ValueError('boxes must have shape (M, 7+) as (x, y, z, l, w, h, yaw, ...), '
                         f'got {tuple(boxes.shape)}')
