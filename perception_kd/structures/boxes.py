"""3D boxes in the LiDAR frame and their conversion to/from nuScenes global boxes.

A LiDAR-frame box array has shape (N, 7) or (N, 9): ``(x, y, z, l, w, h, yaw[, vx, vy])``
with (x, y, z) the geometric centre, (l, w, h) the extents along the box's own x (length),
y (width) and z axes, and yaw counter-clockwise from the LiDAR +x axis to the length axis.
nuScenes stores boxes in the global frame as centre, size ``(w, l, h)`` and a rotation
quaternion ``(w, x, y, z)``; convert only at the edges (infos, evaluation, OCF).

Works on numpy arrays; the corner helpers also accept torch tensors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .transforms import invert, matrix_to_quat, matrix_yaw, quat_to_matrix, rotz

# Corner order of nuScenes' Box.corners(): 0-3 at +l/2 (front), 4-7 at -l/2; within
# each face (+w/2,+h/2), (-w/2,+h/2), (-w/2,-h/2), (+w/2,-h/2).
_CORNER_SIGNS = np.array([[1, 1, 1], [1, -1, 1], [1, -1, -1], [1, 1, -1],
                          [-1, 1, 1], [-1, -1, 1], [-1, -1, -1], [-1, 1, -1]], dtype=np.float64)
# BEV corners counter-clockwise seen from above: front-left, rear-left, rear-right, front-right.
_BEV_SIGNS = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)


def _check_boxes(boxes, min_dim: int = 7):
    if boxes.ndim != 2 or boxes.shape[1] < min_dim:
        raise ValueError(f'boxes must have shape (N, >={min_dim}) as (x, y, z, l, w, h, yaw, ...), '
                         f'got {tuple(boxes.shape)}')


def box_corners(boxes):
    """Corners (N, 8, 3) of boxes (N, 7+), in nuScenes' corner order (see module doc)."""
    _check_boxes(boxes)
    signs = _CORNER_SIGNS if isinstance(boxes, np.ndarray) else \
        boxes.new_tensor(_CORNER_SIGNS)
    local = boxes[:, None, 3:6] * 0.5 * signs[None]
    cos, sin = _cos_sin(boxes[:, 6])
    x = local[..., 0] * cos[:, None] - local[..., 1] * sin[:, None]
    y = local[..., 0] * sin[:, None] + local[..., 1] * cos[:, None]
    out = _stack([x, y, local[..., 2]], -1)
    return out + boxes[:, None, 0:3]


def bev_corners(boxes):
    """BEV corners (N, 4, 2), counter-clockwise: front-left, rear-left, rear-right, front-right."""
    _check_boxes(boxes)
    signs = _BEV_SIGNS if isinstance(boxes, np.ndarray) else boxes.new_tensor(_BEV_SIGNS)
    local = boxes[:, None, 3:5] * 0.5 * signs[None]
    cos, sin = _cos_sin(boxes[:, 6])
    x = local[..., 0] * cos[:, None] - local[..., 1] * sin[:, None] + boxes[:, None, 0]
    y = local[..., 0] * sin[:, None] + local[..., 1] * cos[:, None] + boxes[:, None, 1]
    return _stack([x, y], -1)


def points_in_boxes(points: np.ndarray, boxes: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Boolean mask (P, M): point p lies in box m (closed intervals, as nuScenes' points_in_box).

    points: (P, 3+) in the boxes' frame; boxes: (M, 7+). Vectorised, chunked over points.
    """
    _check_boxes(boxes)
    points = np.asarray(points, dtype=np.float64)[:, :3]
    boxes = np.asarray(boxes, dtype=np.float64)
    mask = np.zeros((len(points), len(boxes)), dtype=bool)
    if len(points) == 0 or len(boxes) == 0:
        return mask
    cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    half = boxes[:, 3:6] * 0.5
    for start in range(0, len(points), chunk):
        rel = points[start:start + chunk, None, :] - boxes[None, :, :3]
        lx = rel[..., 0] * cos + rel[..., 1] * sin
        ly = -rel[..., 0] * sin + rel[..., 1] * cos
        mask[start:start + chunk] = ((np.abs(lx) <= half[:, 0]) & (np.abs(ly) <= half[:, 1])
                                     & (np.abs(rel[..., 2]) <= half[:, 2]))
    return mask


@dataclass
class GlobalBoxes:
    """Boxes in the nuScenes global frame, as the tables and result files store them.

    translation (N, 3) centres; size (N, 3) as (w, l, h); rotation (N, 4) quaternions
    (w, x, y, z); velocity (N, 2) global (vx, vy) in m/s (nan where unknown).
    """
    translation: np.ndarray
    size: np.ndarray
    rotation: np.ndarray
    velocity: np.ndarray

    def __len__(self) -> int:
        return len(self.translation)


def lidar_to_global_boxes(boxes: np.ndarray, lidar2global: np.ndarray) -> GlobalBoxes:
    """LiDAR-frame boxes (N, 7|9) -> :class:`GlobalBoxes` through a 4x4 lidar->global transform."""
    boxes = np.asarray(boxes, dtype=np.float64)
    _check_boxes(boxes)
    rot = lidar2global[:3, :3]
    centres = boxes[:, :3] @ rot.T + lidar2global[:3, 3]
    box_rots = rot[None] @ rotz(boxes[:, 6])
    quats = np.stack([matrix_to_quat(r) for r in box_rots]) if len(boxes) else np.zeros((0, 4))
    if boxes.shape[1] >= 9:
        vel = np.concatenate([boxes[:, 7:9], np.zeros((len(boxes), 1))], 1) @ rot.T
        velocity = vel[:, :2]
    else:
        velocity = np.full((len(boxes), 2), np.nan)
    return GlobalBoxes(centres, boxes[:, [4, 3, 5]].copy(), quats, velocity)


def global_to_lidar_boxes(gboxes: GlobalBoxes, lidar2global: np.ndarray) -> np.ndarray:
    """:class:`GlobalBoxes` -> LiDAR-frame boxes (N, 9) ``(x, y, z, l, w, h, yaw, vx, vy)``.

    The yaw is that of the box's length axis projected on the LiDAR xy plane; velocity is
    rotated into the LiDAR frame (nan stays nan).
    """
    global2lidar = invert(lidar2global)
    rot = global2lidar[:3, :3]
    n = len(gboxes)
    out = np.zeros((n, 9))
    if n == 0:
        return out
    out[:, :3] = np.asarray(gboxes.translation, dtype=np.float64) @ rot.T + global2lidar[:3, 3]
    size = np.asarray(gboxes.size, dtype=np.float64)
    out[:, 3:6] = size[:, [1, 0, 2]]
    box_rots = np.stack([rot @ quat_to_matrix(q) for q in gboxes.rotation])
    out[:, 6] = matrix_yaw(box_rots)
    vel = np.asarray(gboxes.velocity, dtype=np.float64)[:, :2]
    vel3 = np.concatenate([vel, np.zeros((n, 1))], 1)
    out[:, 7:9] = (vel3 @ rot.T)[:, :2]
    return out


def limit_yaw(yaw, period: float = 2 * np.pi):
    """Wrap angles into [-period/2, period/2)."""
    return yaw - np.floor(yaw / period + 0.5) * period


def _cos_sin(yaw):
    if isinstance(yaw, np.ndarray):
        return np.cos(yaw), np.sin(yaw)
    return yaw.cos(), yaw.sin()


def _stack(items, dim):
    if isinstance(items[0], np.ndarray):
        return np.stack(items, dim)
    import torch
    return torch.stack(items, dim)
