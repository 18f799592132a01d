"""``Pack3DDetInputs``: pipeline results -> ``{'inputs': ..., 'data_samples': Det3DDataSample}``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData

from ...registry import TRANSFORMS
from ...structures import Det3DDataSample, PointData
from .base import BaseTransform
from .pairing import check_pairing

INPUT_KEYS = ('points', 'img', 'ocf_points', 'pairing', 'img_superpixels', 'img_semantics')
#: per-camera label maps of the results -> their ``inputs`` key
MAP_INPUT_KEYS = {'img_superpixels': 'superpixels', 'img_semantics': 'img_semantics'}
DEFAULT_META_KEYS = (
    'sample_idx', 'token', 'scene_token', 'timestamp', 'lidar_path', 'num_pts_feats',
    'lidar2ego', 'ego2global', 'cam_names', 'img_path', 'cam2img', 'lidar2cam', 'cam2ego',
    'lidar2img', 'img_aug_matrix', 'bda_mat', 'img_shape', 'ori_shape', 'lidarseg_path',
    'lidar_sd_token', 'ocf_path', 'labelled', 'pcd_rotation', 'pcd_scale_factor', 'pcd_trans',
    'pcd_flip_x', 'pcd_flip_y')


@TRANSFORMS.register_module()
class Pack3DDetInputs(BaseTransform):
    """Pack tensors for the model and a :class:`Det3DDataSample` for losses/metrics.

    ``inputs``: ``points`` float32 (N, C) and ``ocf_points`` (M, C) tensors, ``imgs``
    (Ncam, 3, H, W) tensor with the images' dtype (uint8 unless converted); for image-to-
    LiDAR pretraining ``pairing`` (M, 4) int64 ``[point, camera, row, col]`` of
    ``PointImagePairing`` (checked against the final ``points``), ``superpixels`` and
    ``img_semantics`` (Ncam, H, W) int64 from ``img_superpixels`` / ``img_semantics``. Keys
    absent from the results are skipped.
    ``data_samples.gt_instances_3d``: ``bboxes_3d`` float32 (N, 9|7), ``labels_3d`` int64.
    ``data_samples.gt_pts_seg.pts_semantic_mask``: int64 (N,) per point of ``points``, when
    ``'pts_semantic_mask'`` is in ``keys`` and the results (``LoadLidarsegLabels``).
    ``data_samples.metainfo``: the ``meta_keys`` present; ``bda_mat`` defaults to the
    identity, and ``img_aug_matrix`` too when images are packed. ``labelled`` (False for
    a pseudo-labelled sample, see ``NuScenesDataset``) tells a semi-supervised model
    which samples' boxes are ground truth.
    """

    def __init__(self, keys: Sequence[str] = ('points', 'img', 'ocf_points', 'gt_bboxes_3d',
                                               'gt_labels_3d', 'pairing', 'img_superpixels',
                                               'img_semantics'),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.keys = tuple(keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        for key in ('points', 'ocf_points'):
            if key in self.keys and key in results:
                inputs[key] = torch.from_numpy(np.ascontiguousarray(results[key], np.float32))
        if 'img' in self.keys and 'img' in results:
            inputs['imgs'] = _stack_images(results['img'])
            results.setdefault('img_aug_matrix', np.tile(np.eye(4), (len(results['img']), 1, 1)))
        if 'pairing' in self.keys and 'pairing' in results:
            check_pairing(results)
            inputs['pairing'] = torch.from_numpy(np.asarray(results['pairing'], np.int64))
        for key, name in MAP_INPUT_KEYS.items():
            if key in self.keys and key in results:
                inputs[name] = _stack_maps(results[key], key)
        results.setdefault('bda_mat', np.eye(4))

        sample = Det3DDataSample()
        if 'gt_bboxes_3d' in self.keys and 'gt_bboxes_3d' in results:
            gt = InstanceData()
            gt.bboxes_3d = torch.from_numpy(np.asarray(results['gt_bboxes_3d'], np.float32))
            if 'gt_labels_3d' in results:
                gt.labels_3d = torch.from_numpy(np.asarray(results['gt_labels_3d'], np.int64))
            sample.gt_instances_3d = gt
        if 'pts_semantic_mask' in self.keys and 'pts_semantic_mask' in results:
            mask = np.asarray(results['pts_semantic_mask'], np.int64)
            if 'points' in results and len(mask) != len(results['points']):
                raise ValueError(f'pts_semantic_mask has {len(mask)} labels for '
                                 f'{len(results["points"])} points of sample '
                                 f'{results.get("token")}; a transform moved points without them')
            sample.gt_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(mask))
        sample.set_metainfo({key: results[key] for key in self.meta_keys if key in results})
        return dict(inputs=inputs, data_samples=sample)


def _stack_images(imgs: Sequence[np.ndarray]) -> torch.Tensor:
    """List of HxWx3 images -> (Ncam, 3, H, W) tensor (same dtype)."""
    shapes = {img.shape for img in imgs}
    if len(shapes) != 1:
        raise ValueError(f'camera images have different shapes {sorted(shapes)}; add '
                         'ImageAug3D(final_size=...) to the pipeline to give them one size')
    return torch.from_numpy(np.ascontiguousarray(np.stack(imgs).transpose(0, 3, 1, 2)))


def _stack_maps(maps: Sequence[np.ndarray], key: str) -> torch.Tensor:
    """List of (H, W) integer maps -> (Ncam, H, W) int64 tensor."""
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise ValueError(f'{key} maps have different shapes {sorted(shapes)}; add '
                         'ImageAug3D(final_size=...) after the map loaders to give them one size')
    return torch.from_numpy(np.stack([np.asarray(m, np.int64) for m in maps]))
