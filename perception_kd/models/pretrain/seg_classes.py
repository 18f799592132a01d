"""nuScenes-lidarseg classes: the 32 fine classes of the label files and their mapping to
the 16 classes of the lidarseg benchmark (the devkit's ``LidarsegClassMapper``).

- :data:`LIDARSEG_FINE_CLASSES`: fine class names by index (``category.json``'s ``index``
  of nuScenes v1.0; 0 = ``noise``, which the synthetic renderer also uses for sky/unknown).
- :data:`LIDARSEG_CLASSES`: the 16 benchmark classes, benchmark index 1..16 = position + 1
  (index 0 is the benchmark's ``ignore``).
- :func:`fine_to_coarse_lut`: (32,) int64 lookup table fine index -> benchmark index 0..16,
  taken from the devkit so it cannot drift from the official evaluation.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

__all__ = ['LIDARSEG_FINE_CLASSES', 'LIDARSEG_CLASSES', 'fine_to_coarse_lut']

LIDARSEG_FINE_CLASSES = (
    'noise', 'animal', 'human.pedestrian.adult', 'human.pedestrian.child',
    'human.pedestrian.construction_worker', 'human.pedestrian.personal_mobility',
    'human.pedestrian.police_officer', 'human.pedestrian.stroller',
    'human.pedestrian.wheelchair', 'movable_object.barrier', 'movable_object.debris',
    'movable_object.pushable_pullable', 'movable_object.trafficcone',
    'static_object.bicycle_rack', 'vehicle.bicycle', 'vehicle.bus.bendy', 'vehicle.bus.rigid',
    'vehicle.car', 'vehicle.construction', 'vehicle.emergency.ambulance',
    'vehicle.emergency.police', 'vehicle.motorcycle', 'vehicle.trailer', 'vehicle.truck',
    'flat.driveable_surface', 'flat.other', 'flat.sidewalk', 'flat.terrain', 'static.manmade',
    'static.other', 'static.vegetation', 'vehicle.ego')

LIDARSEG_CLASSES = (
    'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle', 'pedestrian',
    'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat', 'sidewalk',
    'terrain', 'manmade', 'vegetation')


def fine_to_coarse_lut() -> np.ndarray:
    """(32,) int64: fine lidarseg index -> benchmark index (0 ignore, 1..16 classes)."""
    from nuscenes.eval.lidarseg.utils import LidarsegClassMapper

    # the mapper only reads ``nusc.lidarseg_name2idx_mapping``; the indices are nuScenes'
    stand_in = SimpleNamespace(
        lidarseg_name2idx_mapping={name: idx for idx, name in enumerate(LIDARSEG_FINE_CLASSES)})
    mapper = LidarsegClassMapper(stand_in)
    coarse = mapper.coarse_name_2_coarse_idx_mapping
    if [coarse[name] for name in LIDARSEG_CLASSES] != list(range(1, 17)):
        raise RuntimeError('the devkit\'s lidarseg benchmark classes changed order; update '
                           'LIDARSEG_CLASSES in perception_kd/models/pretrain/seg_classes.py')
    mapping = mapper.fine_idx_2_coarse_idx_mapping
    return np.array([mapping[idx] for idx in range(len(LIDARSEG_FINE_CLASSES))], np.int64)
