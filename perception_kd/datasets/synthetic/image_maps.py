"""Exact per-pixel maps of a rendered camera image: segments and 2D semantics.

The stand-in for SAM-style superpixels (``superpixels/render``) and the supervision of a
2D teacher (``semantic2d``), written by the generator beside every keyframe image (see
``docs/lima.md``). Both come from the rasteriser's instance map (boxes) and, where no box
is drawn, from the ray of each pixel centre hitting the ground plane z = 0, so they match
the drawn image and the LiDAR labels of the same surfaces.

Segment rule (ids 1..K per image, 0 = sky, ordered by the sorted segment keys):
- one segment per object (all parts of a track, riders included) and per structure box
  (building, pole, trunk, crown);
- ground: one segment per (surface kind, 5 m x 5 m tile of road coordinates ``(s, d)``),
  kinds terrain / sidewalk / road / lane mark (:data:`GROUND_KINDS`), so a tile crossed by
  a curb or a lane mark splits along it; ground farther than 80 m (horizontal distance from
  the camera, beyond the LiDAR's range) is one segment per kind.
Semantics: the nuScenes lidarseg index (0..31) of the object / structure / surface seen at
each pixel, 0 for the sky; the LiDAR labels use the same indices for the same surfaces.
"""
from __future__ import annotations

import numpy as np

from .camera import STRUCTURE_ID, Rasteriser
from .catalog import LIDARSEG_INDEX, SURFACES
from .world import GROUND_KINDS, Primitives, World

GROUND_TILE = 5.0          # metres, along s and d
FAR_GROUND = 80.0          # metres from the camera (horizontal)
TERRAIN_EXTENT = 400.0     # half side of the terrain square the rasteriser draws
STRIP_EXTENT = 90.0        # road / sidewalk / marks are drawn within +-90 m of the camera's s
_GROUND_SEG = np.array([LIDARSEG_INDEX[SURFACES[kind][0]] for kind in GROUND_KINDS], np.uint8)
_TERRAIN = GROUND_KINDS.index('terrain')
_OFFSET = 1 << 20          # tile indices are shifted into [0, 2^21)


def image_maps(ras: Rasteriser, world: World, ego2global: np.ndarray, prims: Primitives,
               ids: np.ndarray) -> tuple:
    """Segment map (H, W) uint16 and semantic map (H, W) uint8 of one rendered view.

    ``ids`` is the instance map of ``ras.render(..., prims, with_ids=True)`` for the
    camera pose ``ego2global @ ras.cam2ego``.
    """
    height, width = ids.shape
    keys = np.zeros((height, width), dtype=np.int64)          # 0: sky
    semantics = np.zeros((height, width), dtype=np.uint8)

    objects = (ids > 0) & (ids < STRUCTURE_ID)
    track_seg = np.array([world.seg_index[t.cls.category] for t in world.tracks] or [0],
                         dtype=np.uint8)
    keys[objects] = (1 << 60) + ids[objects]
    semantics[objects] = track_seg[ids[objects] - 1]
    structures = ids >= STRUCTURE_ID
    keys[structures] = (2 << 60) + ids[structures]
    semantics[structures] = prims.seg[ids[structures] - STRUCTURE_ID]

    ground_px = np.nonzero(ids == 0)
    cam2global = ego2global @ ras.cam2ego
    pix = np.stack([ground_px[1] + 0.5, ground_px[0] + 0.5, np.ones(len(ground_px[0]))], 1)
    rays = pix @ (cam2global[:3, :3] @ np.linalg.inv(ras.K)).T   # global directions
    origin = cam2global[:3, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        t = np.where(rays[:, 2] < -1e-9, -origin[2] / rays[:, 2], np.inf)
    hit_xy = origin[:2] + rays[:, :2] * np.where(np.isfinite(t), t, 0.0)[:, None]
    hit = np.isfinite(t) & np.all(np.abs(hit_xy - origin[:2]) <= TERRAIN_EXTENT, 1)
    rows, cols, hit_xy = ground_px[0][hit], ground_px[1][hit], hit_xy[hit]

    s, d = world.road.to_sd(hit_xy[:, 0], hit_xy[:, 1])
    s_cam, _ = world.road.to_sd(origin[0], origin[1])
    kind = world.surface_codes(hit_xy[:, 0], hit_xy[:, 1])
    kind[np.abs(s - float(s_cam)) > STRIP_EXTENT] = _TERRAIN
    far = np.linalg.norm(hit_xy - origin[:2], axis=1) > FAR_GROUND
    s_tile = np.floor(s / GROUND_TILE).astype(np.int64) + _OFFSET
    d_tile = np.floor(d / GROUND_TILE).astype(np.int64) + _OFFSET
    tile = np.where(far, 0, 1 + (s_tile << 21) + d_tile)
    keys[rows, cols] = (3 << 60) + (kind << 50) + tile
    semantics[rows, cols] = _GROUND_SEG[kind]

    unique, inverse = np.unique(keys, return_inverse=True)
    segments = inverse.reshape(height, width) + (0 if unique[0] == 0 else 1)
    if segments.max() > np.iinfo(np.uint16).max:
        raise ValueError(f'{segments.max()} segments in one image do not fit a uint16 map')
    return segments.astype(np.uint16), semantics
