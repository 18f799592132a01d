"""The simulated 3D world of one scene: a road, static structures, tracked objects, ego motion.

Frames: the world frame is nuScenes' global frame (z up, ground plane z = 0). The road is
a centreline (straight or a circular arc) parameterised by arc length ``s`` with lateral
offset ``d`` (left positive). Traffic drives on the right: lanes with d < 0 move towards
+s, lanes with d > 0 towards -s. Lateral layout, mirrored on both sides:

| d (m)        | zone                                                       |
|--------------|------------------------------------------------------------|
| 0 .. 7       | two traffic lanes (centres 1.75, 5.25)                     |
| 7 .. 9.5     | edge lane: parked vehicles on one side, cycles on the other |
| 9.5 .. 13.5  | sidewalk: cones/barriers at the curb, pedestrians, poles, trees |
| 14.5 ..      | buildings                                                  |

Everything is a union of upright boxes (``Primitives``) so the LiDAR can cast rays against it
and the camera can rasterise it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...structures.transforms import make_transform, yaw_to_quat
from .catalog import CLASSES, CYCLE_HEIGHT, RIDER_PART, SURFACES, ObjectClass

LANE_WIDTH = 3.5
EDGE_LANE = (7.0, 9.5)
SIDEWALK = (9.5, 13.5)
BUILDING_START = 14.5
LANE_MARKS = ((0.0, 'double'), (3.5, 'dashed'), (7.0, 'solid'))
VEHICLES = ('car', 'truck', 'bus', 'trailer', 'construction_vehicle')
CYCLES = ('bicycle', 'motorcycle')
#: Ground materials (names of SURFACES) in the order of :meth:`World.surface_codes`.
GROUND_KINDS = ('terrain', 'sidewalk', 'road', 'lane_mark')


@dataclass
class Road:
    """Centreline through the origin heading +x with constant ``curvature`` (1/m, 0 = straight)."""
    curvature: float = 0.0

    def frame(self, s, d):
        """(s, d) -> world (x, y, heading), vectorised."""
        s, d = np.asarray(s, dtype=np.float64), np.asarray(d, dtype=np.float64)
        if abs(self.curvature) < 1e-9:
            return s, d + 0.0 * s, np.zeros(np.broadcast(s, d).shape)
        rho = 1.0 / self.curvature
        theta = s / rho
        radius = rho - d
        return radius * np.sin(theta), rho - radius * np.cos(theta), theta + 0.0 * d

    def to_sd(self, x, y):
        """World (x, y) -> (s, d), vectorised (inverse of :meth:`frame`)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if abs(self.curvature) < 1e-9:
            return x, y
        rho = 1.0 / self.curvature
        vx, vy = x, y - rho
        dist = np.hypot(vx, vy)
        if rho > 0:
            return np.arctan2(vx, -vy) * rho, rho - dist
        return np.arctan2(-vx, vy) * rho, rho + dist


@dataclass
class Track:
    """One object moving along the road at constant speed (0 = static)."""
    cls: ObjectClass
    size: np.ndarray             # (l, w, h)
    parts: np.ndarray            # (P, 6): centre x, y (box frame), z (above ground), half extents
    s0: float
    d: float
    speed: float                 # m/s along +s (signed)
    yaw_offset: float            # heading relative to the road tangent
    attribute: str
    in_traffic_lane: bool = False

    def pose(self, road: Road, t: float):
        """World (x, y, z_centre, yaw) and velocity (vx, vy) at time t (seconds)."""
        s = self.s0 + self.speed * t
        x, y, heading = road.frame(s, self.d)
        tangent = np.array([np.cos(heading), np.sin(heading)])
        return (float(x), float(y), self.size[2] / 2.0, float(heading + self.yaw_offset),
                self.speed * tangent)


@dataclass
class Primitives:
    """Upright boxes in the world frame at one instant.

    centres (K, 3), half extents (K, 3), yaw (K,), owner (K,) track index or -1 for
    structures, seg (K,) lidarseg index, intensity (K,), colour (K, 3) uint8.
    """
    centres: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    owner: np.ndarray
    seg: np.ndarray
    intensity: np.ndarray
    colour: np.ndarray

    @staticmethod
    def concat(items: list[Primitives]) -> Primitives:
        return Primitives(*[np.concatenate([getattr(p, f) for p in items]) for f in
                            ('centres', 'half', 'yaw', 'owner', 'seg', 'intensity', 'colour')])

    def __len__(self) -> int:
        return len(self.centres)


@dataclass
class World:
    """A scene's world: road, static structures, object tracks and the ego trajectory."""
    road: Road
    tracks: list[Track]
    structures: Primitives
    ego_speed: float
    ego_d: float = -LANE_WIDTH / 2
    seg_index: dict = field(default_factory=dict)

    def ego_pose(self, t: float) -> np.ndarray:
        """4x4 ego -> global at time t (ego on the ground, heading along its lane)."""
        x, y, heading = self.road.frame(self.ego_speed * t, self.ego_d)
        return make_transform(yaw_to_quat(float(heading)), [float(x), float(y), 0.0])

    def boxes(self, t: float, track_ids: list[int] | None = None) -> np.ndarray:
        """Annotation boxes (N, 9) (x, y, z, l, w, h, yaw, vx, vy) in the world frame."""
        ids = range(len(self.tracks)) if track_ids is None else track_ids
        rows = []
        for i in ids:
            track = self.tracks[i]
            x, y, z, yaw, vel = track.pose(self.road, t)
            rows.append([x, y, z, *track.size, yaw, vel[0], vel[1]])
        return np.asarray(rows, dtype=np.float64).reshape(-1, 9)

    def primitives(self, t: float) -> Primitives:
        """Structures plus every object's parts at time t, as world-frame boxes."""
        items = [self.structures]
        boxes = self.boxes(t)
        for i, (track, box) in enumerate(zip(self.tracks, boxes)):
            cos, sin = np.cos(box[6]), np.sin(box[6])
            local = track.parts[:, :3]
            centres = np.stack([box[0] + cos * local[:, 0] - sin * local[:, 1],
                                box[1] + sin * local[:, 0] + cos * local[:, 1],
                                local[:, 2]], 1)
            n = len(local)
            items.append(Primitives(
                centres, track.parts[:, 3:], np.full(n, box[6]), np.full(n, i),
                np.full(n, self.seg_index[track.cls.category]), np.full(n, track.cls.intensity),
                np.tile(np.array(track.cls.colour, dtype=np.uint8), (n, 1))))
        return Primitives.concat(items)

    def surface(self, x, y):
        """Ground material at world (x, y): names of SURFACES, vectorised (object array)."""
        return np.asarray(GROUND_KINDS, dtype=object)[self.surface_codes(x, y)]

    def surface_codes(self, x, y) -> np.ndarray:
        """Ground material at world (x, y) as int64 indices into :data:`GROUND_KINDS`."""
        s, d = self.road.to_sd(x, y)
        ad = np.abs(d)
        out = np.zeros(ad.shape, dtype=np.int64)
        out[ad < SIDEWALK[1]] = 1
        out[ad < SIDEWALK[0]] = 2
        marks = np.zeros(ad.shape, dtype=bool)
        for offset, style in LANE_MARKS:
            near = np.abs(ad - offset) < (0.1 if style != 'double' else 0.25)
            if style == 'dashed':
                near &= np.mod(s, 9.0) < 3.0
            marks |= near
        out[marks & (ad < SIDEWALK[0])] = 3
        return out


def make_parts(cls: ObjectClass, size: np.ndarray, rider: bool, margin: float = 0.06) -> np.ndarray:
    """Shape parts (P, 6) inside the box by a margin: centre (x, y) in the box frame, centre
    height above the ground, and half extents."""
    l, w, h = size
    templates = list(cls.parts) + ([RIDER_PART] if rider else [])
    rows = []
    for cx, cy, z0, z1, lx, wy in templates:
        hl = max(min(lx * l / 2, l / 2 - abs(cx * l) - margin), 0.02)
        hw = max(min(wy * w / 2, w / 2 - abs(cy * w) - margin), 0.02)
        bottom, top = z0 * h, min(z1 * h, h - margin)
        rows.append([cx * l, cy * w, (bottom + top) / 2, hl, hw, (top - bottom) / 2])
    parts = np.asarray(rows)
    return parts


def _structure(rng, centre_sd, road, length, depth, height, kind):
    x, y, heading = road.frame(centre_sd[0], centre_sd[1])
    seg_name, intensity, colour = SURFACES[kind]
    if kind == 'building':
        colour = tuple(int(c) for c in np.clip(np.array(colour) * rng.uniform(0.6, 1.3, 3), 0, 255))
    return [float(x), float(y), height / 2], [length / 2, depth / 2, height / 2], float(heading), \
        seg_name, intensity, colour


def build_world(rng: np.random.Generator, duration: float, seg_index: dict) -> World:
    """Draw a random scene world for ``duration`` seconds of ego driving."""
    road = Road(0.0 if rng.random() < 0.4 else float(rng.choice([-1, 1]) / rng.uniform(150, 400)))
    ego_speed = 0.0 if rng.random() < 0.15 else float(rng.uniform(4.0, 12.0))
    s_lo, s_hi = -90.0, ego_speed * duration + 90.0
    tracks: list[Track] = []

    def add(name, s, d, speed, facing, rider=False, yaw_offset=None, lane=False, size=None):
        cls = CLASSES[name]
        if size is None:
            size = np.array(cls.size) * (1 + cls.spread * np.clip(rng.standard_normal(3), -2, 2))
            if name in CYCLES:
                size[2] = CYCLE_HEIGHT[rider] * (1 + 0.04 * rng.standard_normal())
        parts = make_parts(cls, size, rider)
        offset = (0.0 if facing > 0 else np.pi) if yaw_offset is None else yaw_offset
        tracks.append(Track(cls, np.asarray(size), parts, float(s), float(d), float(speed),
                            float(offset), _attribute(name, speed, lane, rider), lane))
        return size

    def fill_lane(d, speed, facing, choose, gap, start=s_lo, lane=False, rider=False,
                  keep_out=None, forced=()):
        s = start + rng.uniform(0, gap[1])
        queue = list(forced)
        while s < s_hi:
            name = queue.pop(0) if queue else choose()
            length = np.array(CLASSES[name].size)[0]
            centre = s + length / 2
            if keep_out is None or not (keep_out[0] - length < centre < keep_out[1] + length):
                add(name, centre, d, speed, facing, rider=rider, lane=lane)
            s += length + rng.uniform(*gap)

    def vehicle():
        return str(rng.choice(VEHICLES, p=[0.72, 0.1, 0.07, 0.04, 0.07]))

    # Traffic lanes: one speed per lane so that nobody collides.
    for d, facing in ((-1.75, 1), (-5.25, 1), (1.75, -1), (5.25, -1)):
        if d == -1.75:
            speed = ego_speed
            keep_out = (-8.0, 12.0)
        else:
            speed = 0.0 if rng.random() < 0.2 else float(rng.uniform(3.0, 14.0))
            keep_out = None
        fill_lane(d, facing * speed, facing, vehicle, (6.0, 35.0), lane=True, keep_out=keep_out)

    # Edge lanes: parked vehicles on one side, cycles on the other.
    parked_side = float(rng.choice([-1, 1]))
    near_ego = (5.0, max(ego_speed * duration, 10.0) + 25.0)
    fill_lane(parked_side * 8.25, 0.0, -parked_side, lambda: str(rng.choice(
        VEHICLES + ('bicycle',), p=[0.6, 0.1, 0.05, 0.1, 0.1, 0.05])), (1.0, 20.0),
        start=near_ego[0] - 30, forced=('truck', 'bus', 'trailer', 'construction_vehicle'))
    cycle_side = -parked_side
    cycle_speed = float(rng.uniform(2.0, 7.0)) * -cycle_side
    fill_lane(cycle_side * 8.25, cycle_speed, -cycle_side, lambda: str(rng.choice(CYCLES)),
              (8.0, 40.0), start=near_ego[0] - 20, rider=True, forced=('bicycle', 'motorcycle'))

    # Curb: clusters of cones and barriers.
    for side in (-1.0, 1.0):
        s = s_lo + rng.uniform(0, 30)
        forced = ['traffic_cone', 'barrier'] if side == parked_side else []
        while s < s_hi:
            if forced and s < near_ego[0]:
                s = near_ego[0] + rng.uniform(0, 20)
            kind = forced.pop(0) if forced else str(rng.choice(['traffic_cone', 'barrier']))
            count = int(rng.integers(3, 7)) if kind == 'traffic_cone' else int(rng.integers(2, 4))
            for k in range(count):
                if kind == 'traffic_cone':
                    add(
                        kind,
                        s + 2.0 * k,
                        side * 9.8,
                        0.0,
                        1,
                        yaw_offset=float(rng.uniform(-np.pi, np.pi)),
                    )
                else:
                    add(kind, s + 2.7 * k, side * 9.85, 0.0, 1, yaw_offset=np.pi / 2)
            s += 2.7 * count + rng.uniform(15.0, 60.0)

    # Sidewalks: pedestrians in slots, each slot one direction and speed.
    for side in (-1.0, 1.0):
        for d in (10.6, 11.5, 12.4):
            standing = rng.random() < 0.25
            facing = float(rng.choice([-1, 1]))
            speed = 0.0 if standing else facing * float(rng.uniform(1.0, 1.6))
            s = s_lo + rng.uniform(0, 20)
            while s < s_hi:
                add('pedestrian', s, side * d, speed, facing if not standing else 1,
                    yaw_offset=None if not standing else float(rng.uniform(-np.pi, np.pi)))
                s += rng.uniform(5.0, 45.0)

    # Static structures: buildings, poles, trees.
    rows = []
    for side in (-1.0, 1.0):
        s = s_lo - 20
        while s < s_hi + 20:
            length, depth, height = rng.uniform(10, 40), rng.uniform(8, 20), rng.uniform(4, 20)
            rows.append(_structure(rng, (s + length / 2, side * (BUILDING_START + depth / 2)), road,
                                   length, depth, height, 'building'))
            s += length + rng.uniform(3, 15)
        s = s_lo + rng.uniform(0, 10)
        while s < s_hi:
            rows.append(
                _structure(rng, (s, side * 13.3), road, 0.3, 0.3, rng.uniform(5, 8), 'pole')
            )
            if rng.random() < 0.6:
                st = s + rng.uniform(8, 14)
                rows.append(_structure(rng, (st, side * 13.3), road, 0.35, 0.35, 2.2, 'vegetation'))
                size = rng.uniform(2.0, 3.0)
                c = _structure(rng, (st, side * 13.3), road, size, size, size, 'vegetation')
                c[0][2] = 2.2 + size / 2
                rows.append(c)
            s += rng.uniform(20, 35)
    structures = Primitives(
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.full(len(rows), -1),
        np.array([seg_index[r[3]] for r in rows]),
        np.array([r[4] for r in rows], dtype=np.float64),
        np.array([r[5] for r in rows], dtype=np.uint8),
    )
    return World(road, tracks, structures, ego_speed, seg_index=seg_index)


def _attribute(name: str, speed: float, in_lane: bool, rider: bool) -> str:
    """nuScenes attribute from class and motion."""
    moving = abs(speed) > 0.3
    if name in VEHICLES:
        return 'vehicle.moving' if moving else ('vehicle.stopped' if in_lane else 'vehicle.parked')
    if name == 'pedestrian':
        return 'pedestrian.moving' if moving else 'pedestrian.standing'
    if name in CYCLES:
        return 'cycle.with_rider' if rider else 'cycle.without_rider'
    return ''
