"""Range / class filters and point shuffling (LiDAR frame, vectorised)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import TRANSFORMS
from ...structures import limit_yaw
from .base import BaseTransform, filter_instances


def _check_range(point_cloud_range: Sequence[float]) -> np.ndarray:
    pcr = np.asarray(point_cloud_range, dtype=np.float64)
    if pcr.shape != (6,) or np.any(pcr[3:] <= pcr[:3]):
        raise ValueError('point_cloud_range must be (x_min, y_min, z_min, x_max, y_max, z_max) '
                         f'with min < max, got {point_cloud_range}')
    return pcr


@TRANSFORMS.register_module()
class PointsRangeFilter(BaseTransform):
    """Keep points strictly inside ``point_cloud_range`` (x, y and z), as mmdet3d.

    Filters every cloud of ``keys`` that is present (default: ``points`` and
    ``ocf_points``) and the per-point ``pts_semantic_mask`` with ``points``.
    """

    def __init__(self, point_cloud_range: Sequence[float],
                 keys: Sequence[str] = ('points', 'ocf_points')):
        self.point_cloud_range = _check_range(point_cloud_range)
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        low, high = self.point_cloud_range[:3], self.point_cloud_range[3:]
        for key in self.keys:
            if key not in results:
                continue
            xyz = results[key][:, :3]
            keep = np.all((xyz > low) & (xyz < high), axis=1)
            results[key] = results[key][keep]
            if key == 'points' and 'pts_semantic_mask' in results:
                results['pts_semantic_mask'] = results['pts_semantic_mask'][keep]
        return results


@TRANSFORMS.register_module()
class ObjectRangeFilter(BaseTransform):
    """Keep boxes whose BEV centre is strictly inside the x/y range; wrap yaw to [-pi, pi)."""

    def __init__(self, point_cloud_range: Sequence[float]):
        self.point_cloud_range = _check_range(point_cloud_range)

    def transform(self, results: dict) -> dict:
        boxes = results['gt_bboxes_3d']
        x0, y0, _, x1, y1, _ = self.point_cloud_range
        keep = (boxes[:, 0] > x0) & (boxes[:, 0] < x1) & (boxes[:, 1] > y0) & (boxes[:, 1] < y1)
        filter_instances(results, keep)
        boxes = results['gt_bboxes_3d']
        boxes[:, 6] = limit_yaw(boxes[:, 6])
        return results


@TRANSFORMS.register_module()
class ObjectNameFilter(BaseTransform):
    """Keep instances of the given classes.

    Uses ``gt_names_3d`` when present; otherwise keeps labels in ``[0, len(classes))``
    (mmdet3d's semantics, labels indexing the dataset classes).
    """

    def __init__(self, classes: Sequence[str]):
        self.classes = tuple(classes)

    def transform(self, results: dict) -> dict:
        if 'gt_names_3d' in results:
            keep = np.isin(results['gt_names_3d'], self.classes)
        else:
            labels = results['gt_labels_3d']
            keep = (labels >= 0) & (labels < len(self.classes))
        return filter_instances(results, keep)


@TRANSFORMS.register_module()
class PointShuffle(BaseTransform):
    """Shuffle the order of ``points`` (and of ``pts_semantic_mask`` with them) and,
    independently, of every other cloud of ``keys`` present (default ``ocf_points``,
    whose added object points would otherwise all come last, where voxel caps cut)."""

    def __init__(self, keys: Sequence[str] = ('points', 'ocf_points')):
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        for key in self.keys:
            if key not in results:
                continue
            order = np.random.permutation(len(results[key]))
            results[key] = results[key][order]
            if key == 'points' and 'pts_semantic_mask' in results:
                results['pts_semantic_mask'] = results['pts_semantic_mask'][order]
        return results
