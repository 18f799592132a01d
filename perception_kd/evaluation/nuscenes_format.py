"""Predictions <-> the nuScenes detection results format (the devkit's ``results`` JSON).

A results file is ``{'meta': {...}, 'results': {sample_token: [box, ...]}}`` where each box
is a dict with the global ``translation`` (3), ``size`` (w, l, h), ``rotation`` quaternion
(w, x, y, z), global ``velocity`` (vx, vy), ``detection_name``, ``detection_score`` and
``attribute_name``. Predictions come in the keyframe LiDAR frame as ``(M, 9)`` boxes
``(x, y, z, l, w, h, yaw, vx, vy)`` (see :mod:`perception_kd.structures.boxes`).

numpy only at import (``tools/make_ocf.py --pseudo-labels`` and the visualizer read results
through it); :func:`gt_to_predictions` imports torch and mmengine when called.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..structures.boxes import GlobalBoxes, lidar_to_global_boxes

if TYPE_CHECKING:
    from mmengine.structures import InstanceData

__all__ = ['NUSCENES_DETECTION_CLASSES', 'MOVING_SPEED', 'RESULT_BOX_KEYS', 'attribute_name',
           'classes_from_metainfo', 'gt_to_predictions', 'lidar2global_of_info', 'load_results',
           'parse_result_boxes', 'predictions_to_results']

# The 10 nuScenes detection classes in mmdet3d 1.x's order (that of the datasets' CLASSES).
NUSCENES_DETECTION_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
                              'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')

# Speed (m/s) above which a predicted object counts as moving (mmdet3d's rule).
MOVING_SPEED = 0.2

_VEHICLES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer')
_CYCLES = ('bicycle', 'motorcycle')


def attribute_name(detection_name: str, speed: float) -> str:
    """The attribute of a predicted box from its class and speed (m/s), as mmdet3d assigns it.

    Moving (speed > 0.2 m/s): vehicles ``vehicle.moving``, cycles ``cycle.with_rider``,
    pedestrians ``pedestrian.moving``. Otherwise: bus ``vehicle.stopped``, other vehicles
    ``vehicle.parked``, cycles ``cycle.without_rider``, pedestrians
    ``pedestrian.standing``. Barriers and cones have no attribute (``''``). An unknown
    (nan) speed counts as not moving.
    """
    moving = bool(np.isfinite(speed) and speed > MOVING_SPEED)
    if detection_name in _VEHICLES:
        if moving:
            return 'vehicle.moving'
        return 'vehicle.stopped' if detection_name == 'bus' else 'vehicle.parked'
    if detection_name in _CYCLES:
        return 'cycle.with_rider' if moving else 'cycle.without_rider'
    if detection_name == 'pedestrian':
        return 'pedestrian.moving' if moving else 'pedestrian.standing'
    return ''


def lidar2global_of_info(info: dict) -> np.ndarray:
    """4x4 keyframe-LiDAR -> global transform of an info (``ego2global @ lidar2ego``)."""
    try:
        lidar2ego = np.asarray(info['lidar_points']['lidar2ego'], dtype=np.float64)
        ego2global = np.asarray(info['ego2global'], dtype=np.float64)
    except KeyError as err:
        raise KeyError(
            f'info of sample {info.get("token", "?")} has no {err}; expected the info '
            'layout of docs/data_format.md (lidar_points.lidar2ego, ego2global)'
        ) from err
    return ego2global @ lidar2ego


def predictions_to_results(sample_token: str, bboxes: np.ndarray, scores: np.ndarray,
                           labels: np.ndarray, classes: Sequence[str],
                           lidar2global: np.ndarray) -> list[dict]:
    """One sample's LiDAR-frame predictions -> list of nuScenes result boxes (global frame).

    bboxes (M, 7|9) ``(x, y, z, l, w, h, yaw[, vx, vy])``; scores (M,); labels (M,) index
    into ``classes`` (nuScenes detection names). Unknown velocity (7 columns or nan) is
    written as 0.
    """
    bboxes = np.asarray(bboxes, dtype=np.float64)
    if bboxes.size == 0:
        return []
    labels = np.asarray(labels, dtype=np.int64)
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(f'sample {sample_token}: labels must lie in [0, {len(classes)}) to index '
                         f'classes {list(classes)}, got {sorted(set(labels.tolist()))}')
    gboxes = lidar_to_global_boxes(bboxes, lidar2global)
    velocity = np.nan_to_num(gboxes.velocity, nan=0.0)
    speeds = np.linalg.norm(velocity, axis=1)
    out = []
    for i in range(len(bboxes)):
        name = classes[labels[i]]
        out.append(dict(
            sample_token=sample_token,
            translation=gboxes.translation[i].tolist(),
            size=gboxes.size[i].tolist(),
            rotation=gboxes.rotation[i].tolist(),
            velocity=velocity[i].tolist(),
            detection_name=name,
            detection_score=float(scores[i]),
            attribute_name=attribute_name(name, speeds[i])))
    return out


def gt_to_predictions(info: dict, only_valid: bool = True,
                      classes: Sequence[str] | None = None) -> InstanceData:
    """Ground truth of an info as predictions with score 1 (a sanity check of the chain).

    Returns ``InstanceData`` with ``bboxes_3d`` (N, 9) float32 ``(x, y, z, l, w, h, yaw, vx,
    vy)`` in the keyframe LiDAR frame (unknown velocity -> 0), ``scores_3d`` (N,) ones and
    ``labels_3d`` (N,) int64. Instances with label -1 are dropped; with ``only_valid`` those
    without any LiDAR/radar point too (the devkit drops such ground truth, so predicting
    them would only add false positives). ``classes`` (optional) keeps only the labels
    that index into it.
    """
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    for inst in info.get('instances', []):
        label = int(inst['bbox_label_3d'])
        if label < 0 or (classes is not None and label >= len(classes)):
            continue
        if only_valid and not inst.get('bbox_3d_isvalid', True):
            continue
        velocity = np.nan_to_num(np.asarray(inst.get('velocity', [0.0, 0.0]), dtype=np.float64),
                                 nan=0.0)
        boxes.append(np.concatenate([np.asarray(inst['bbox_3d'], dtype=np.float64)[:7], velocity]))
        labels.append(label)
    import torch
    from mmengine.structures import InstanceData
    result = InstanceData()
    result.bboxes_3d = torch.as_tensor(np.array(boxes).reshape(-1, 9), dtype=torch.float32)
    result.scores_3d = torch.ones(len(boxes), dtype=torch.float32)
    result.labels_3d = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    return result


def classes_from_metainfo(metainfo: dict) -> list[str] | None:
    """Class names ordered by label from an info file's ``metainfo['categories']``."""
    categories = (metainfo or {}).get('categories')
    if not categories:
        return None
    by_label = sorted(categories.items(), key=lambda item: item[1])
    names = [name for name, label in by_label if label >= 0]
    if [label for _, label in by_label if label >= 0] != list(range(len(names))):
        raise ValueError(f'metainfo categories must map names to labels 0..N-1, got {categories}')
    return names


def load_results(path: str, known_tokens: Iterable[str] | None = None,
                 info_file: str = 'the info file', what: str = 'results file',
                 hint: str = 'it is the results_nusc.json that NuScenesDetMetric writes '
                             '(set its jsonfile_prefix to keep it)') -> dict[str, list[dict]]:
    """Read a nuScenes detection results JSON -> ``{sample_token: [box dict, ...]}``.

    ``what`` names the file in errors (e.g. ``'pseudo-label file'``) and ``hint`` says where
    such a file comes from. With ``known_tokens`` (the info file's sample tokens), every
    sample token of the file must be among them: results made on another split or dataset
    are refused with a ``KeyError`` naming both files, rather than silently drawing nothing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} not found; {hint}')
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'{what} {path} is not valid JSON: {err}') from err
    results = data.get('results') if isinstance(data, dict) else None
    if not isinstance(results, dict) or not all(isinstance(v, list) for v in results.values()):
        raise ValueError(f'{what} {path} has no "results" dict of box lists; expected the '
                         'nuScenes detection results format {"meta": ..., "results": '
                         '{sample_token: [box, ...]}}')
    if known_tokens is not None:
        known = set(known_tokens)
        unknown = [token for token in results if token not in known]
        if unknown:
            raise KeyError(f'{what} {path} has {len(unknown)} sample token(s) that are '
                           f'not in {info_file} (e.g. {unknown[0]}); pass the info file of '
                           'the split the results were made on')
    return results


RESULT_BOX_KEYS = ('translation', 'size', 'rotation', 'detection_name', 'detection_score')


def parse_result_boxes(boxes: Sequence[dict], sample_token: str = '?',
                       where: str = '<results>') -> tuple:
    """One sample's result boxes (nuScenes results format) -> ``(GlobalBoxes, names, scores)``.

    Every box is checked: the keys of :data:`RESULT_BOX_KEYS` (a ``KeyError`` naming
    ``where``, the box and the sample) and numeric translation (3), size (3), rotation (4)
    and optional velocity (2; nan where absent, as :class:`GlobalBoxes` holds unknown
    velocities) (a ``ValueError``). ``names`` is an object array of detection names and
    ``scores`` float64, both in the file's order.
    """
    for i, box in enumerate(boxes):
        missing = [key for key in RESULT_BOX_KEYS if key not in box]
        if missing:
            raise KeyError(f'{where}: box {i} of sample {sample_token} has no {missing}; '
                           'expected the nuScenes detection results format (translation, '
                           'size, rotation, velocity, detection_name, detection_score)')

    def column(key, width, default=None):
        values = [box.get(key, default) for box in boxes]
        return np.asarray(values, dtype=np.float64).reshape(len(boxes), width)

    try:
        gboxes = GlobalBoxes(translation=column('translation', 3), size=column('size', 3),
                             rotation=column('rotation', 4),
                             velocity=np.asarray([list(box.get('velocity', (np.nan, np.nan)))[:2]
                                                  for box in boxes],
                                                 dtype=np.float64).reshape(len(boxes), 2))
        scores = np.asarray([box['detection_score'] for box in boxes], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{where}: sample {sample_token} has a malformed box ({err}); '
                         'translation (3), size (3), rotation (4) and velocity (2) must be '
                         'lists of numbers and detection_score a number') from err
    names = np.asarray([str(box['detection_name']) for box in boxes], dtype=object)
    return gboxes, names, scores
