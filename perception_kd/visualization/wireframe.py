"""Box wireframes as plain numpy line sets (no Open3D), shared by every renderer.

A box (x, y, z, l, w, h, yaw) becomes 10 vertices - its 8 corners in nuScenes' corner
order (:func:`perception_kd.structures.box_corners`: 0-3 front face, 4-7 rear face), its
centre (8) and the centre of its front face (9) - and 13 lines: the 12 edges and a
heading mark from the centre to the front face. Predictions are drawn dashed: their
lines are cut into dashes (:func:`dash_segments`), in metres in 3D or pixels in 2D.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..structures import box_corners, invert, transform_points

# Front face 0-1-2-3, rear face 4-5-6-7, the four long edges, then the heading mark.
BOX_LINES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                      [0, 4], [1, 5], [2, 6], [3, 7], [8, 9]], dtype=np.int64)
VERTICES_PER_BOX = 10
# The nuScenes ego vehicle (Renault Zoe): (l, w, h) and its centre in the ego frame
# (origin at the rear axle on the ground).
EGO_SIZE = (4.084, 1.730, 1.562)
EGO_CENTRE = (1.3, 0.0, 0.781)


@dataclass
class Wireframe:
    """Line set: vertices (V, D), lines (L, 2) vertex indices, line_box (L,) source box index."""
    vertices: np.ndarray
    lines: np.ndarray
    line_box: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def segments(self) -> np.ndarray:
        """(L, 2, D) end points of every line."""
        return self.vertices[self.lines]

    @classmethod
    def from_segments(cls, starts: np.ndarray, ends: np.ndarray,
                      line_box: np.ndarray) -> Wireframe:
        """A wireframe of independent segments starts[i] -> ends[i] (each (L, D))."""
        vertices = np.stack([starts, ends], 1).reshape(-1, starts.shape[-1])
        lines = np.arange(2 * len(starts), dtype=np.int64).reshape(-1, 2)
        return cls(vertices, lines, np.asarray(line_box, dtype=np.int64))


def box_wireframe(boxes: np.ndarray) -> Wireframe:
    """Wireframe of boxes (N, 7+) in their frame: 10 vertices and 13 lines per box (module doc)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 7)
    corners = box_corners(boxes)                                      # (N, 8, 3)
    centre = boxes[:, None, :3]
    front = corners[:, :4].mean(1, keepdims=True)
    vertices = np.concatenate([corners, centre, front], 1).reshape(-1, 3)
    offsets = np.arange(len(boxes), dtype=np.int64)[:, None, None] * VERTICES_PER_BOX
    lines = (BOX_LINES[None] + offsets).reshape(-1, 2)
    line_box = np.repeat(np.arange(len(boxes), dtype=np.int64), len(BOX_LINES))
    return Wireframe(vertices, lines, line_box)


def dash_segments(starts: np.ndarray, ends: np.ndarray, dash: float, gap: float | None = None):
    """Cut segments (L, D) into dashes of length ``dash`` separated by ``gap`` (default dash).

    Every segment keeps at least one dash starting at its start point, and its last dash
    ends on its end point, so corners stay visible. Returns (dash_starts, dash_ends,
    source) with ``source`` (K,) the index of the segment each dash comes from.
    """
    gap = dash if gap is None else gap
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    length = np.linalg.norm(ends - starts, axis=-1)
    period = dash + gap
    count = np.maximum(1, np.round((length + gap) / period)).astype(np.int64)
    source = np.repeat(np.arange(len(starts)), count)
    first = np.cumsum(count) - count
    k = np.arange(len(source)) - np.repeat(first, count)              # dash number in its segment
    # Stretch the pattern so that count dashes and count-1 gaps fill the segment exactly.
    nominal = (count * dash + (count - 1) * gap)[source]
    t0 = k * period / nominal
    t1 = (k * period + dash) / nominal
    delta = (ends - starts)[source]
    return starts[source] + t0[:, None] * delta, starts[source] + t1[:, None] * delta, source


def dashed(wire: Wireframe, dash: float, gap: float | None = None) -> Wireframe:
    """The wireframe with every line cut into dashes (``dash``/``gap`` in vertex units)."""
    seg = wire.segments
    starts, ends, source = dash_segments(seg[:, 0], seg[:, 1], dash, gap)
    return Wireframe.from_segments(starts, ends, wire.line_box[source])


def ego_box(lidar2ego: np.ndarray) -> np.ndarray:
    """The ego vehicle as one box (1, 9) in the LiDAR frame of ``lidar2ego`` (4x4)."""
    ego2lidar = invert(lidar2ego)
    centre = transform_points(ego2lidar, np.asarray([EGO_CENTRE], dtype=np.float64))[0]
    forward = ego2lidar[:3, :3] @ np.array([1.0, 0.0, 0.0])
    yaw = np.arctan2(forward[1], forward[0])
    return np.array([[*centre, *EGO_SIZE, yaw, 0.0, 0.0]])


def ego_forward(lidar2ego: np.ndarray) -> np.ndarray:
    """Unit vector (3,) of the ego's forward (+x) axis in the LiDAR frame, flattened to xy."""
    forward = invert(lidar2ego)[:3, :3] @ np.array([1.0, 0.0, 0.0])
    forward[2] = 0.0
    return forward / max(np.linalg.norm(forward), 1e-9)
