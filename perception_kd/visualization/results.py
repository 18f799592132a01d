"""Predictions from a nuScenes results JSON (global frame) in a sample's LiDAR frame.

A results file is what ``NuScenesDetMetric`` writes (``results_nusc.json``):
``{'meta': {...}, 'results': {sample_token: [box, ...]}}`` with global ``translation``,
``size`` (w, l, h), ``rotation`` (w, x, y, z), ``velocity``, ``detection_name`` and
``detection_score`` per box (see :mod:`perception_kd.evaluation.nuscenes_format`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..constants import CLASSES
from ..evaluation.nuscenes_format import (
    load_results,  # noqa: F401  (re-exported)
    parse_result_boxes,
)
from ..structures import global_to_lidar_boxes


@dataclass
class Predictions:
    """Predicted boxes of one sample in its keyframe LiDAR frame.

    boxes (M, 9) ``(x, y, z, l, w, h, yaw, vx, vy)``; scores (M,); labels (M,) index
    ``classes``.
    """
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> Predictions:
        return cls(np.zeros((0, 9)), np.zeros(0), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    def above(self, score_thr: float) -> Predictions:
        """The predictions scoring at least ``score_thr``."""
        keep = self.scores >= score_thr
        return Predictions(self.boxes[keep], self.scores[keep], self.labels[keep])


def boxes_to_predictions(boxes: Sequence[dict], lidar2global: np.ndarray,
                         classes: Sequence[str] = CLASSES, token: str = '?') -> Predictions:
    """One sample's result boxes (global frame) -> :class:`Predictions` in the LiDAR frame.

    ``lidar2global`` is the sample's 4x4 keyframe LiDAR -> global transform
    (``ego2global @ lidar2ego`` of its info).
    """
    if not boxes:
        return Predictions.empty()
    gboxes, names, scores = parse_result_boxes(boxes, token)
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ValueError(f'sample {token}: detection names {unknown} are not among the classes '
                         f'{list(classes)}')
    lookup = {name: i for i, name in enumerate(classes)}
    return Predictions(
        boxes=global_to_lidar_boxes(gboxes, lidar2global),
        scores=scores,
        labels=np.array([lookup[name] for name in names], dtype=np.int64))


def noisy_gt_results(source, seed: int = 0, centre_sigma: float = 0.3, size_sigma: float = 0.05,
                     yaw_sigma: float = 0.1, miss_rate: float = 0.1,
                     false_positives: int = 3) -> dict:
    """A results JSON dict made from the ground truth with noise - a stand-in detector.

    For each sample of ``source`` (a :class:`~.sample.SampleSource`): every usable box is
    kept with probability ``1 - miss_rate``, its centre moved by N(0, centre_sigma) m in
    x/y, its size scaled by N(1, size_sigma), its yaw turned by N(0, yaw_sigma) rad, and
    scored U(0.4, 1); ``false_positives`` boxes copied from random ground truth and moved
    5-15 m away are added with scores U(0.05, 0.5). Written in the global frame like the
    metric's output (:func:`perception_kd.evaluation.nuscenes_format.predictions_to_results`).
    """
    from ..evaluation.nuscenes_format import lidar2global_of_info, predictions_to_results
    rng = np.random.default_rng(seed)
    classes = list(source.classes)
    results = {}
    for idx in range(len(source)):
        info = source.info(idx)
        ann = info['ann_info']
        boxes = np.asarray(ann['gt_bboxes_3d'], dtype=np.float64).copy()
        labels = np.asarray(ann['gt_labels_3d'], dtype=np.int64)
        keep = rng.random(len(boxes)) >= miss_rate
        boxes, labels = boxes[keep], labels[keep]
        boxes[:, :2] += rng.normal(0.0, centre_sigma, (len(boxes), 2))
        boxes[:, 3:6] *= rng.normal(1.0, size_sigma, (len(boxes), 3)).clip(0.5, 1.5)
        boxes[:, 6] += rng.normal(0.0, yaw_sigma, len(boxes))
        scores = rng.uniform(0.4, 1.0, len(boxes))
        if len(boxes) and false_positives:
            pick = rng.integers(0, len(boxes), false_positives)
            fake = boxes[pick].copy()
            angle = rng.uniform(0, 2 * np.pi, false_positives)
            fake[:, :2] += rng.uniform(5, 15, (false_positives, 1)) * np.stack(
                [np.cos(angle), np.sin(angle)], 1)
            boxes = np.concatenate([boxes, fake])
            labels = np.concatenate([labels, labels[pick]])
            scores = np.concatenate([scores, rng.uniform(0.05, 0.5, false_positives)])
        results[info['token']] = predictions_to_results(info['token'], boxes, scores, labels,
                                                        classes, lidar2global_of_info(info))
    return dict(meta=dict(use_lidar=True, use_camera=False, use_radar=False, use_map=False,
                          use_external=False), results=results)
