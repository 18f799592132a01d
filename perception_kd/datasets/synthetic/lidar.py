"""A spinning LiDAR that casts rays into the world: the nearest hit wins, so occlusion is real.

All rays of a sweep share the sensor origin; the world's upright boxes are tested with a
slab test, each only against the rays of its azimuth span (rays are on a regular
azimuth x elevation grid), and the ground plane z = 0 analytically.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...structures.transforms import invert, make_transform, matrix_yaw
from .catalog import LIDARSEG_INDEX, SURFACES
from .world import Primitives, World

# nuScenes LIDAR_TOP mounting: x to the ego's right, y forward (about -90 deg of yaw).
LIDAR_TRANSLATION = (0.943713, 0.0, 1.84023)
LIDAR_ROTATION = (
    0.7077955119163518,
    -0.006492242056004365,
    0.010646214713995808,
    -0.7063073142877817,
)


@dataclass
class LidarModel:
    """Beam layout and noise of the LIDAR_TOP sensor."""
    beams: int = 32
    azimuth_steps: int = 1084
    elevation_range: tuple = (-30.67, 10.67)
    max_range: float = 70.0
    min_range: float = 1.0
    range_noise: float = 0.015
    dropout: float = 0.03

    def directions(self) -> np.ndarray:
        """Unit ray directions (A, B, 3) in the sensor frame; azimuth index major."""
        az = np.arange(self.azimuth_steps) * (2 * np.pi / self.azimuth_steps)
        el = np.deg2rad(np.linspace(*self.elevation_range, self.beams))
        cos_el = np.cos(el)
        return np.stack([np.cos(az)[:, None] * cos_el[None], np.sin(az)[:, None] * cos_el[None],
                         np.broadcast_to(np.sin(el)[None], (len(az), len(el)))], -1)


@dataclass
class Sweep:
    """One sweep: points (N, 5) float32 (x, y, z, intensity, ring) in the sensor frame, the
    lidarseg index and owner (track index or -1) of each point, and per track the number
    of rays that would hit it with nothing else in the world (for visibility)."""
    points: np.ndarray
    seg: np.ndarray
    owner: np.ndarray
    alone_hits: dict


def cast_rays(model: LidarModel, prims: Primitives, lidar2global: np.ndarray,
              world: World | None = None, rng: np.random.Generator | None = None,
              directions: np.ndarray | None = None) -> Sweep:
    """Cast one sweep from the sensor pose ``lidar2global`` against ``prims`` and the ground.

    ``world`` gives ground materials (lane marks, sidewalks); without it the ground is road.
    ``rng`` adds range noise and dropout; without it the sweep is noise-free.
    """
    dirs = model.directions() if directions is None else directions
    n_az, n_beams = dirs.shape[:2]
    flat_dirs = dirs.reshape(-1, 3)
    global2lidar = invert(lidar2global)
    best_t = np.full(len(flat_dirs), np.inf)
    best_id = np.full(len(flat_dirs), -1, dtype=np.int64)

    # Ground plane z = 0 expressed in the sensor frame: n . p = -h.
    normal = lidar2global[2, :3]
    height = lidar2global[2, 3]
    denom = flat_dirs @ normal
    with np.errstate(divide='ignore', invalid='ignore'):
        t_ground = np.where(denom < -1e-6, -height / denom, np.inf)
    ground = t_ground <= model.max_range
    best_t[ground] = t_ground[ground]
    best_id[ground] = -2

    # Boxes in the sensor frame.
    centres = prims.centres @ global2lidar[:3, :3].T + global2lidar[:3, 3]
    dist = np.linalg.norm(centres[:, :2], axis=1)
    radius = np.linalg.norm(prims.half, axis=1)
    cos, sin = np.cos(prims.yaw), np.sin(prims.yaw)
    box_rot = np.zeros((len(prims), 3, 3))
    box_rot[:, 0, 0], box_rot[:, 0, 1], box_rot[:, 1, 0], box_rot[:, 1, 1] = cos, -sin, sin, cos
    box_rot[:, 2, 2] = 1.0
    box_rot = global2lidar[:3, :3][None] @ box_rot            # box -> sensor rotation
    alone = {}
    az_step = 2 * np.pi / n_az
    for k in np.nonzero(dist - radius < model.max_range)[0]:
        cols = _azimuth_columns(
            centres[k], prims.half[k], box_rot[k], dist[k], radius[k], az_step, n_az
        )
        idx = (cols[:, None] * n_beams + np.arange(n_beams)[None]).ravel()
        d_local = flat_dirs[idx] @ box_rot[k]                 # R^T d
        o_local = -(centres[k] @ box_rot[k])                  # R^T (0 - c)
        with np.errstate(divide='ignore', invalid='ignore'):
            inv = 1.0 / np.where(np.abs(d_local) < 1e-12, 1e-12, d_local)
            t1 = (-prims.half[k] - o_local) * inv
            t2 = (prims.half[k] - o_local) * inv
        t_near = np.minimum(t1, t2).max(1)
        t_far = np.maximum(t1, t2).min(1)
        hit = (t_near <= t_far) & (t_near > model.min_range) & (t_near <= model.max_range)
        if prims.owner[k] >= 0:
            alone.setdefault(int(prims.owner[k]), []).append(idx[hit])
        closer = hit & (t_near < best_t[idx])
        best_t[idx[closer]] = t_near[closer]
        best_id[idx[closer]] = k

    keep = np.isfinite(best_t) & (best_t >= model.min_range)
    if rng is not None:
        keep &= rng.random(len(keep)) >= model.dropout
    rays = np.nonzero(keep)[0]
    t = best_t[rays]
    if rng is not None:
        t = t + rng.normal(0.0, model.range_noise, len(t))
    xyz = flat_dirs[rays] * t[:, None]
    ids = best_id[rays]
    seg = np.zeros(len(rays), dtype=np.uint8)
    intensity = np.zeros(len(rays))
    owner = np.full(len(rays), -1, dtype=np.int64)
    on_box = ids >= 0
    seg[on_box] = prims.seg[ids[on_box]]
    intensity[on_box] = prims.intensity[ids[on_box]]
    owner[on_box] = prims.owner[ids[on_box]]
    on_ground = ~on_box
    if on_ground.any():
        world_xy = xyz[on_ground] @ lidar2global[:3, :3].T + lidar2global[:3, 3]
        kinds = world.surface(world_xy[:, 0], world_xy[:, 1]) if world is not None else \
            np.full(on_ground.sum(), 'road', dtype=object)
        for kind in np.unique(kinds):
            sel = np.nonzero(on_ground)[0][kinds == kind]
            seg_name, base, _ = SURFACES[kind]
            seg[sel] = LIDARSEG_INDEX[seg_name]
            intensity[sel] = base
    if rng is not None:
        intensity = intensity * rng.uniform(0.8, 1.2, len(intensity)) + rng.uniform(
            0, 3, len(intensity)
        )
    ring = (rays % n_beams).astype(np.float32)
    points = np.concatenate([xyz, np.clip(intensity, 0, 255)[:, None], ring[:, None]], 1)
    alone_hits = {i: int(np.unique(np.concatenate(v)).size) for i, v in alone.items()}
    return Sweep(points.astype(np.float32), seg, owner, alone_hits)


def _azimuth_columns(centre, half, rot, dist, radius, az_step, n_az):
    """Azimuth indices of the rays that can hit a box (conservative)."""
    if dist <= radius + 1e-3:
        return np.arange(n_az)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = centre + (signs * half) @ rot.T
    ang_c = np.arctan2(centre[1], centre[0])
    rel = np.arctan2(corners[:, 1], corners[:, 0]) - ang_c
    rel = (rel + np.pi) % (2 * np.pi) - np.pi
    lo = int(np.floor((ang_c + rel.min()) / az_step)) - 1
    hi = int(np.ceil((ang_c + rel.max()) / az_step)) + 1
    return np.arange(lo, hi + 1) % n_az


def lidar2ego_transform() -> np.ndarray:
    """Nominal LIDAR_TOP -> ego transform."""
    return make_transform(
        np.asarray(LIDAR_ROTATION) / np.linalg.norm(LIDAR_ROTATION), LIDAR_TRANSLATION
    )


__all__ = ['LidarModel', 'Sweep', 'cast_rays', 'lidar2ego_transform', 'matrix_yaw']
