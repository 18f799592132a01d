"""What the synthetic world is made of: object classes, sizes, shapes, colours, labels.

Category names, lidarseg indices and attribute names come from the nuscenes-devkit
(``get_colormap``, ``ATTRIBUTE_NAMES``), never retyped.
"""
from __future__ import annotations

from dataclasses import dataclass

from nuscenes.eval.detection.constants import ATTRIBUTE_NAMES
from nuscenes.utils.color_map import get_colormap

#: The 32 lidarseg category names in index order (0 noise ... 31 vehicle.ego).
LIDARSEG_NAMES = list(get_colormap().keys())
LIDARSEG_INDEX = {name: i for i, name in enumerate(LIDARSEG_NAMES)}

#: Background materials: lidarseg category, base intensity, RGB colour.
SURFACES = {
    'road': ('flat.driveable_surface', 8.0, (72, 72, 78)),
    'lane_mark': ('flat.driveable_surface', 60.0, (235, 235, 225)),
    'sidewalk': ('flat.sidewalk', 14.0, (150, 148, 140)),
    'terrain': ('flat.terrain', 10.0, (92, 112, 64)),
    'building': ('static.manmade', 25.0, (160, 130, 110)),
    'pole': ('static.manmade', 40.0, (110, 110, 115)),
    'vegetation': ('static.vegetation', 18.0, (40, 96, 42)),
}
SKY_TOP, SKY_HORIZON = (90, 140, 210), (185, 210, 235)


@dataclass(frozen=True)
class ObjectClass:
    """An object class of the world: nuScenes category, mean size (l, w, h) in metres, the
    relative size spread, the shape as parts and the camera colour."""
    name: str               # nuScenes detection name
    category: str           # nuScenes category name
    size: tuple[float, float, float]
    spread: float
    parts: tuple[tuple[float, float, float, float, float, float], ...]
    colour: tuple[int, int, int]
    intensity: float


# A part is (cx, cy, z0, z1, lx, wy) as fractions of the box: centre offset along the
# length / width axes (fraction of l / w), bottom and top heights (fraction of h), and
# extents along length / width (fraction of l / w). Parts are shrunk by a small margin so
# that the annotation box encloses the shape with room for range noise.
_WHEELS = tuple((sx * 0.32, sy * 0.40, 0.0, 0.24, 0.15, 0.18) for sx in (1, -1) for sy in (1, -1))
_RIDER = (-0.08, 0.0, 0.42, 1.0, 0.38, 0.9)

CLASSES: dict[str, ObjectClass] = {c.name: c for c in [
    ObjectClass('car', 'vehicle.car', (4.63, 1.97, 1.74), 0.08,
                _WHEELS + ((0.0, 0.0, 0.18, 0.6, 1.0, 1.0), (-0.06, 0.0, 0.6, 1.0, 0.55, 0.9)),
                (200, 40, 40), 30.0),
    ObjectClass('truck', 'vehicle.truck', (6.93, 2.51, 2.84), 0.15,
                _WHEELS + ((0.38, 0.0, 0.15, 0.8, 0.22, 1.0), (-0.12, 0.0, 0.18, 1.0, 0.76, 1.0)),
                (40, 80, 200), 35.0),
    ObjectClass('bus', 'vehicle.bus.rigid', (10.96, 2.95, 3.47), 0.08,
                _WHEELS + ((0.0, 0.0, 0.1, 1.0, 1.0, 1.0),), (230, 200, 40), 40.0),
    ObjectClass('trailer', 'vehicle.trailer', (12.28, 2.90, 3.87), 0.1,
                ((-0.38, 0.3, 0.0, 0.3, 0.1, 0.15), (-0.38, -0.3, 0.0, 0.3, 0.1, 0.15),
                 (0.05, 0.0, 0.25, 1.0, 0.9, 1.0), (0.47, 0.0, 0.2, 0.3, 0.06, 0.2)),
                (140, 140, 150), 35.0),
    ObjectClass('construction_vehicle', 'vehicle.construction', (6.37, 2.85, 3.19), 0.12,
                ((-0.12, 0.0, 0.0, 0.55, 0.76, 1.0), (0.08, 0.0, 0.55, 1.0, 0.34, 0.7),
                 (0.42, 0.0, 0.25, 0.75, 0.16, 0.35)),
                (240, 140, 20), 30.0),
    ObjectClass('pedestrian', 'human.pedestrian.adult', (0.73, 0.67, 1.77), 0.1,
                ((0.0, 0.22, 0.0, 0.48, 0.5, 0.35), (0.0, -0.22, 0.0, 0.48, 0.5, 0.35),
                 (0.0, 0.0, 0.48, 0.86, 0.6, 0.85), (0.0, 0.0, 0.86, 1.0, 0.4, 0.4)),
                (60, 200, 90), 20.0),
    ObjectClass('motorcycle', 'vehicle.motorcycle', (2.11, 0.77, 1.47), 0.08,
                ((0.0, 0.0, 0.0, 0.55, 1.0, 0.4),), (170, 60, 200), 30.0),
    ObjectClass('bicycle', 'vehicle.bicycle', (1.70, 0.60, 1.28), 0.08,
                ((0.0, 0.0, 0.0, 0.5, 1.0, 0.25),), (40, 200, 210), 25.0),
    ObjectClass('traffic_cone', 'movable_object.trafficcone', (0.41, 0.41, 1.07), 0.1,
                ((0.0, 0.0, 0.0, 0.08, 1.0, 1.0), (0.0, 0.0, 0.08, 1.0, 0.5, 0.5)),
                (255, 120, 0), 70.0),
    ObjectClass('barrier', 'movable_object.barrier', (0.50, 2.49, 0.98), 0.08,
                ((0.0, 0.0, 0.0, 1.0, 1.0, 1.0),), (230, 230, 230), 55.0),
]}
#: Height of a cycle with / without its rider (the box of a ridden cycle encloses the rider).
CYCLE_HEIGHT = {True: 1.72, False: 1.1}
RIDER_PART = _RIDER

VISIBILITY_LEVELS = [('1', 'v0-40', 'visibility of whole object is between 0 and 40%'),
                     ('2', 'v40-60', 'visibility of whole object is between 40 and 60%'),
                     ('3', 'v60-80', 'visibility of whole object is between 60 and 80%'),
                     ('4', 'v80-100', 'visibility of whole object is between 80 and 100%')]

#: Attribute names exactly as the devkit lists them.
ATTRIBUTES = list(ATTRIBUTE_NAMES)


def visibility_token(fraction: float) -> str:
    """nuScenes visibility token '1'..'4' from a visible fraction in [0, 1]."""
    for token, upper in (('1', 0.4), ('2', 0.6), ('3', 0.8)):
        if fraction < upper:
            return token
    return '4'
