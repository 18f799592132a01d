"""nuScenes lidarseg metric: a confusion matrix over points, per-class IoU and mIoU.

The rule is the devkit's ``LidarSegEval`` (``nuscenes.eval.lidarseg``): points whose
ground truth is the ignore class are left out; the confusion matrix of the evaluated
points is summed over the whole split; ``IoU_c = TP / (TP + FP + FN)``; a class with an
empty union (neither in the ground truth nor predicted) has no IoU (NaN) and the mIoU is
the mean over the classes that have one (``np.nanmean``). Labels are ours (0..15, ignore
16; :mod:`perception_kd.structures.lidarseg`), i.e. the devkit's indices minus one.

Example (in a config)::

    val_evaluator = dict(type='LidarSegMetric')        # + results_dir=... for devkit files
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from perception_kd.registry import METRICS
from perception_kd.structures import (
    LIDARSEG_IGNORE_INDEX,
    lidarseg_classes,
    lidarseg_label_map,
    to_devkit_labels,
)


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int) -> np.ndarray:
    """(K, K) int64 counts, rows = ground truth, columns = prediction; ignored GT skipped."""
    gt, pred = np.asarray(gt).astype(np.int64), np.asarray(pred).astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f'{len(pred)} predicted labels for {len(gt)} ground-truth labels')
    keep = gt != ignore_index
    gt, pred = gt[keep], pred[keep]
    for name, arr in (('ground-truth', gt), ('predicted', pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(
                f'{name} labels must be in 0..{num_classes - 1} (or the ignore '
                f'index {ignore_index} for ground truth), got {arr.min()}..{arr.max()}'
            )
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """(K,) IoU per class; NaN where the class is neither in the GT nor predicted."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, tp / union, np.nan)


@METRICS.register_module()
class LidarSegMetric(BaseMetric):
    """Per-point semantic segmentation metric (mIoU, per-class IoU, overall accuracy).

    Args:
        classes: class names of labels 0..K-1; default the 16 lidarseg classes.
        ignore_index: ground-truth label left out (16).
        results_dir: also write the devkit's results layout there:
            ``<results_dir>/lidarseg/<eval_set>/<lidar sample_data token>_lidarseg.bin``
            (uint8, devkit indices 1..16) and ``<results_dir>/<eval_set>/submission.json``.
        eval_set: the devkit split name of those files (e.g. ``mini_val``, ``val``).

    Ground truth: ``gt_pts_seg.pts_semantic_mask`` of each sample; without it, the
    sample's ``lidarseg_path`` file (mapped to 16 classes). Predictions:
    ``pred_pts_seg.pts_semantic_mask`` (one label per point, in the points' order).
    Metrics (prefix ``lidarseg/``): ``mIoU``, ``aAcc`` (correct / evaluated points) and
    ``IoU_<class>`` (-1 for a class without IoU, i.e. left out of the mIoU). The log shows
    the IoU table and the confusion matrix.
    """
    default_prefix = 'lidarseg'

    def __init__(self, classes: Sequence[str] | None = None,
                 ignore_index: int = LIDARSEG_IGNORE_INDEX, results_dir: str | None = None,
                 eval_set: str = 'val', collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.classes = tuple(classes) if classes is not None else lidarseg_classes()
        self.ignore_index = int(ignore_index)
        self.results_dir = results_dir
        self.eval_set = eval_set

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Accumulate one confusion matrix per sample (and write its devkit file)."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            token = sample.get('token')
            pred = _mask(sample, 'pred_pts_seg')
            if pred is None:
                raise KeyError(f'sample {token} has no pred_pts_seg.pts_semantic_mask; the model '
                               'must return per-point labels (VoxelSegmentor.predict)')
            gt = _mask(sample, 'gt_pts_seg')
            if gt is None:
                gt = _load_gt(sample.get('lidarseg_path'), token)
            cm = confusion_matrix(gt, pred, len(self.classes), self.ignore_index)
            if self.results_dir:
                self._write_prediction(sample, pred)
            self.results.append(dict(token=token, confusion=cm))

    def _write_prediction(self, sample: dict, pred: np.ndarray) -> None:
        sd_token = sample.get('lidar_sd_token')
        if not sd_token and sample.get('lidarseg_path'):  # <sd token>_lidarseg.bin
            sd_token = osp.basename(sample['lidarseg_path']).split('_lidarseg')[0]
        if not sd_token:
            raise KeyError(f'sample {sample.get("token")} has neither lidar_sd_token nor '
                           'lidarseg_path in its metainfo: cannot name its devkit results file')
        folder = osp.join(self.results_dir, 'lidarseg', self.eval_set)
        os.makedirs(folder, exist_ok=True)
        to_devkit_labels(pred).tofile(osp.join(folder, f'{sd_token}_lidarseg.bin'))

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        num = len(self.classes)
        cm = sum((res['confusion'] for res in results), np.zeros((num, num), np.int64))
        iou = iou_from_confusion(cm)
        total = cm.sum()
        metrics = dict(mIoU=float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
                       aAcc=float(np.trace(cm) / total) if total else 0.0)
        for name, value in zip(self.classes, iou):
            metrics[f'IoU_{name}'] = float(value) if np.isfinite(value) else -1.0
        if self.results_dir:
            self._write_submission()
        print_log(self.format_table(cm, iou, metrics), logger='current')
        return metrics

    def _write_submission(self) -> None:
        folder = osp.join(self.results_dir, self.eval_set)
        os.makedirs(folder, exist_ok=True)
        meta = dict(use_camera=False, use_lidar=True, use_radar=False, use_map=False,
                    use_external=False)
        with open(osp.join(folder, 'submission.json'), 'w') as file:
            json.dump(dict(meta=meta), file, indent=2)

    def format_table(self, cm: np.ndarray, iou: np.ndarray, metrics: dict[str, float]) -> str:
        """The per-class IoU and the confusion matrix (rows GT, columns prediction) as text."""
        width = max(len(name) for name in self.classes)
        lines = [f'lidarseg: mIoU {metrics["mIoU"]:.4f}, overall accuracy '
                 f'{metrics["aAcc"]:.4f}, {int(cm.sum())} points; IoU per class '
                 '(- : class neither in the ground truth nor predicted):']
        for name, value, gt_pts in zip(self.classes, iou, cm.sum(1)):
            shown = f'{value:.4f}' if np.isfinite(value) else '     -'
            lines.append(f'  {name:<{width}}  {shown}  ({int(gt_pts)} gt points)')
        lines.append('confusion matrix (rows: ground truth, columns: prediction, class order '
                     'as above):')
        lines.extend('  ' + ' '.join(f'{int(v):>8d}' for v in row) for row in cm)
        return '\n'.join(lines)


def _mask(sample: dict, key: str) -> np.ndarray | None:
    field = sample.get(key, sample.get(f'_{key}'))
    if field is None:
        return None
    if isinstance(field, BaseDataElement):
        field = field.to_dict()
    mask = field.get('pts_semantic_mask')
    if mask is None:
        return None
    return mask.detach().cpu().numpy() if hasattr(mask, 'detach') else np.asarray(mask)


def _load_gt(path: str | None, token: str | None) -> np.ndarray:
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'sample {token} has no gt_pts_seg and its lidarseg file '
                                f'{path!r} is missing; add LoadLidarsegLabels and '
                                "'pts_semantic_mask' to the test pipeline")
    return lidarseg_label_map()[np.fromfile(path, dtype=np.uint8)]
