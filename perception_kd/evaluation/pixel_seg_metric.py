"""``PixelSegMetric``: per-pixel mIoU of 2D semantic predictions (e.g. ``ImageSegNet``).

Reads ``pred_sem_seg_2d`` and ``gt_sem_seg_2d`` of each data sample: (Ncam, H, W) maps of
benchmark classes, 0 = ignore (not counted), 1..K the classes; accumulates one
(K + 1) x (K + 1) confusion matrix and reports ``mIoU`` (mean over the classes that occur
in the ground truth or the predictions) and ``IoU_<class>`` per class.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from ..structures.lidarseg import lidarseg_classes

__all__ = ['PixelSegMetric']


@METRICS.register_module()
class PixelSegMetric(BaseMetric):
    """Pixel mIoU over ``class_names`` (benchmark indices 1..K; 0 ignored).

    Args:
        class_names: names of classes 1..K (default the 16 lidarseg benchmark classes).
    """
    default_prefix = 'seg2d'

    def __init__(self, class_names: Sequence[str] = lidarseg_classes(),
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.class_names = tuple(class_names)

    def process(self, data_batch, data_samples: Sequence) -> None:
        size = len(self.class_names) + 1
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else \
                (lambda key, s=sample: getattr(s, key, None))
            pred, gt = get('pred_sem_seg_2d'), get('gt_sem_seg_2d')
            if pred is None or gt is None:
                raise KeyError('PixelSegMetric needs pred_sem_seg_2d and gt_sem_seg_2d in the '
                               'data samples (ImageSegNet.predict with img_semantics packed)')
            pred = torch.as_tensor(pred).long().flatten()
            gt = torch.as_tensor(gt).long().flatten()
            keep = gt > 0
            counts = torch.bincount(gt[keep] * size + pred[keep].clamp(0, size - 1),
                                    minlength=size * size)
            self.results.append(counts.view(size, size).cpu().numpy())

    def compute_metrics(self, results: list) -> dict:
        conf = np.sum(results, axis=0)[1:, 1:].astype(np.float64)
        inter = np.diag(conf)
        union = conf.sum(0) + conf.sum(1) - inter
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.where(union > 0, inter / union, np.nan)
        metrics = {'mIoU': float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0}
        metrics.update({f'IoU_{name}': float(v) for name, v in zip(self.class_names, iou)
                        if np.isfinite(v)})
        return metrics
