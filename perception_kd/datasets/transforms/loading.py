"""Loading steps: LiDAR points (keyframe and sweeps), camera images, 3D annotations.

Frames: ``results['points']`` is (N, C) float32 in the keyframe LiDAR frame; camera
matrices are per camera in ``results['cam_names']`` order, stacked (Ncam, 4, 4) float64.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import numpy as np

from ...constants import CAMERAS, TIME_DIM
from ...registry import TRANSFORMS
from ...structures import invert, transform_points
from ..io import load_points
from .base import BaseTransform


def _sample_context(results: dict) -> str:
    """`` (sample <token>)`` for error messages, or '' when the results carry no token."""
    token = results.get('token')
    return f' (sample {token})' if token else ''


def _dims(use_dim: int | Sequence[int], load_dim: int) -> list:
    dims = list(range(use_dim)) if isinstance(use_dim, int) else [int(d) for d in use_dim]
    if not dims or max(dims) >= load_dim or min(dims) < 0:
        raise ValueError(f'use_dim {use_dim} must select columns in [0, load_dim={load_dim})')
    return dims


@TRANSFORMS.register_module()
class LoadPointsFromFile(BaseTransform):
    """Keyframe cloud -> ``results['points']`` float32 (N, len(use_dim)), LiDAR frame.

    Reads ``results['lidar_points']['lidar_path']`` (or ``results['lidar_path']``).
    ``use_dim`` is a column count (first columns) or a list of columns.
    """

    def __init__(self, load_dim: int = 5, use_dim: int | Sequence[int] = 5,
                 coord_type: str = 'LIDAR'):
        if coord_type != 'LIDAR':
            raise ValueError(f'only coord_type="LIDAR" is supported, got {coord_type!r}')
        self.load_dim = load_dim
        self.use_dim = _dims(use_dim, load_dim)

    def transform(self, results: dict) -> dict:
        path = results['lidar_points']['lidar_path'] if 'lidar_points' in results \
            else results['lidar_path']
        points = load_points(path, self.load_dim, what='LiDAR keyframe',
                             context=_sample_context(results))
        results['points'] = np.ascontiguousarray(points[:, self.use_dim])
        return results


@TRANSFORMS.register_module()
class LoadOCFPoints(BaseTransform):
    """Object-Complete Frame of the sample -> ``results['ocf_points']`` float32
    (M, len(use_dim)), keyframe LiDAR frame, the same columns as ``LoadPointsFromFile``.

    Reads ``results['ocf_path']`` (info key written by ``tools/make_ocf.py`` into the
    ``*_ocf.pkl`` info files; see ``docs/ocf.md``). Place it right after
    ``LoadPointsFromFile`` and before ``LoadPointsFromMultiSweeps``: the sweeps merged
    into ``points`` are then merged into ``ocf_points`` too (OCFs patch keyframes only;
    sweeps stay raw), and ``BEVAugmentation`` / ``PointsRangeFilter`` /
    ``PointShuffle`` / ``Pack3DDetInputs`` treat ``ocf_points`` like ``points``.
    ``out_key='points'`` replaces the raw keyframe points by the OCF instead (a detector
    trained or evaluated on OCFs: ``configs/xray_teacher_centerpoint*.py``).
    """

    def __init__(self, load_dim: int = 5, use_dim: int | Sequence[int] = 5,
                 out_key: str = 'ocf_points'):
        if out_key not in ('ocf_points', 'points'):
            raise ValueError(
                f"LoadOCFPoints out_key must be 'ocf_points' (a teacher input beside "
                f"the raw points) or 'points' (the OCF replaces them), got {out_key!r}"
            )
        self.load_dim = load_dim
        self.use_dim = _dims(use_dim, load_dim)
        self.out_key = out_key

    def transform(self, results: dict) -> dict:
        path = results.get('ocf_path')
        if path is None:
            raise KeyError(f'sample {results.get("token")} has no ocf_path; build the OCFs with '
                           '`python tools/make_ocf.py ROOT` and use the info files it writes '
                           '(<name>_ocf.pkl) as ann_file')
        points = load_points(path, self.load_dim, what='Object-Complete Frame',
                             context=_sample_context(results))
        results[self.out_key] = np.ascontiguousarray(points[:, self.use_dim])
        return results


@TRANSFORMS.register_module()
class LoadPointsFromMultiSweeps(BaseTransform):
    """Merge earlier LIDAR_TOP sweeps into ``results['points']`` (mmdet3d convention).

    Each sweep (N_i, load_dim) is brought into the keyframe LiDAR frame with
    ``inverse(lidar2sensor)`` (motion compensation through both ego poses); column 4
    becomes the time lag in seconds (keyframe timestamp - sweep timestamp; 0 for the
    keyframe's own points). Output: (N + sum N_i, len(use_dim)) float32, keyframe first.

    Args:
        sweeps_num: sweeps to merge; with more available, training picks a random
            subset, test mode the nearest ones.
        load_dim: features per point in the files; the keyframe points must have as many
            columns (use ``LoadPointsFromFile(use_dim=load_dim)``), and at least 5.
        use_dim: output columns.
        remove_close: drop sweep points within 1 m (|x| and |y|) of their sensor.
        pad_empty_sweeps: with no sweep at all, repeat the keyframe ``sweeps_num`` times
            (time lag 0), as mmdet3d does, so the density does not depend on history.
        test_mode: deterministic choice of sweeps.
        extra_point_keys: other keyframe clouds present in ``results`` (default the OCF,
            ``ocf_points`` of :class:`LoadOCFPoints`) that get the same chosen sweeps
            and the same treatment (time lag column, ``use_dim``), so the OCF teacher
            and the student see the same sweeps.
        drop_time_lag: diagnostic: the sweep points keep their positions but get time lag
            0, as if they were keyframe points (does a model read the motion trail?
            ``docs/results.md``, LiDAR velocity).
        seg_ignore_index: label of the sweep points appended to ``pts_semantic_mask`` when
            the keyframe has lidarseg labels (``LoadLidarsegLabels`` before this step):
            sweeps have no labels, so they get the ignore label and stay aligned.
    """

    def __init__(self, sweeps_num: int = 10, load_dim: int = 5,
                 use_dim: Sequence[int] = (0, 1, 2, 3, 4), remove_close: bool = True,
                 pad_empty_sweeps: bool = True, test_mode: bool = False,
                 close_radius: float = 1.0, extra_point_keys: Sequence[str] = ('ocf_points',),
                 seg_ignore_index: int = 16, drop_time_lag: bool = False):
        if load_dim <= TIME_DIM:
            raise ValueError(f'load_dim must be > {TIME_DIM} (column {TIME_DIM} holds the time '
                             'lag)')
        self.sweeps_num = sweeps_num
        self.load_dim = load_dim
        self.use_dim = _dims(use_dim, load_dim)
        self.remove_close = remove_close
        self.pad_empty_sweeps = pad_empty_sweeps
        self.test_mode = test_mode
        self.close_radius = close_radius
        self.extra_point_keys = tuple(extra_point_keys)
        self.seg_ignore_index = int(seg_ignore_index)
        self.drop_time_lag = bool(drop_time_lag)

    def _remove_close(self, points: np.ndarray) -> np.ndarray:
        close = (np.abs(points[:, 0]) < self.close_radius) & \
            (np.abs(points[:, 1]) < self.close_radius)
        return points[~close]

    def _choose(self, num: int) -> np.ndarray:
        if num <= self.sweeps_num:
            return np.arange(num)
        if self.test_mode:
            return np.arange(self.sweeps_num)
        return np.sort(np.random.choice(num, self.sweeps_num, replace=False))

    def transform(self, results: dict) -> dict:
        keys = ['points'] + [key for key in self.extra_point_keys if key in results]
        keyframes = {}
        for key in keys:
            points = results[key]
            if points.shape[1] != self.load_dim:
                loader = 'LoadPointsFromFile' if key == 'points' else 'LoadOCFPoints'
                raise ValueError(f'LoadPointsFromMultiSweeps(load_dim={self.load_dim}) needs '
                                 f'keyframe {key} with {self.load_dim} columns, got '
                                 f'{points.shape[1]}; load them with {loader}('
                                 f'use_dim={self.load_dim})')
            points = points.copy()
            points[:, TIME_DIM] = 0.0
            keyframes[key] = points
        sweeps = results.get('lidar_sweeps') or []
        clouds = []
        if not sweeps and self.pad_empty_sweeps:
            for key, points in keyframes.items():
                padding = self._remove_close(points) if self.remove_close else points
                results[key] = self._merge([points] + [padding] * self.sweeps_num)
            return self._pad_labels(results)
        for idx in self._choose(len(sweeps)):
            sweep = sweeps[idx]
            cloud = load_points(sweep['lidar_points']['lidar_path'], self.load_dim,
                                what='LiDAR sweep', context=_sample_context(results))
            if self.remove_close:
                cloud = self._remove_close(cloud)
            lidar2sensor = sweep.get('lidar2sensor', sweep['lidar_points'].get('lidar2sensor'))
            if lidar2sensor is None:
                raise KeyError(f'sweep {sweep.get("sample_data_token")} has no lidar2sensor; '
                               'rebuild the info files with tools/create_data.py')
            cloud = transform_points(invert(np.asarray(lidar2sensor, dtype=np.float64)), cloud)
            cloud[:, TIME_DIM] = 0.0 if self.drop_time_lag else \
                results['timestamp'] - sweep['timestamp']
            clouds.append(cloud)
        for key, points in keyframes.items():
            results[key] = self._merge([points] + clouds)
        return self._pad_labels(results)

    def _pad_labels(self, results: dict) -> dict:
        """Give the appended sweep points the ignore label (keyframe labels come first)."""
        mask = results.get('pts_semantic_mask')
        if mask is not None and len(mask) < len(results['points']):
            pad = np.full(len(results['points']) - len(mask), self.seg_ignore_index, mask.dtype)
            results['pts_semantic_mask'] = np.concatenate([mask, pad])
        return results

    def _merge(self, clouds: list) -> np.ndarray:
        merged = np.concatenate(clouds, 0)
        return np.ascontiguousarray(merged[:, self.use_dim], dtype=np.float32)


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Read the camera images of a sample and stack the camera geometry.

    Fills ``img`` (list of HxWx3 uint8 RGB, or float32 with ``to_float32``), ``img_path``,
    ``cam_names``, ``cam2img`` (Ncam, 4, 4: 3x3 intrinsics padded), ``lidar2cam``,
    ``cam2ego``, ``lidar2img`` = cam2img @ lidar2cam (Ncam, 4, 4; a LiDAR point
    ``p`` maps to ``(u*d, v*d, d, 1)``), ``img_aug_matrix`` (identity, Ncam x 4 x 4),
    ``img_shape`` / ``ori_shape`` (list of (H, W)).

    Args:
        to_float32: convert images to float32 (values still 0..255).
        cam_names: channels to read, in order; default: :data:`CAMERAS` present in the info.
    """

    def __init__(self, to_float32: bool = False, cam_names: Sequence[str] | None = None):
        self.to_float32 = to_float32
        self.cam_names = None if cam_names is None else list(cam_names)

    def transform(self, results: dict) -> dict:
        import cv2
        images = results.get('images') or {}
        names = self.cam_names or [c for c in CAMERAS if c in images]
        missing = [name for name in names if name not in images]
        if missing or not names:
            raise KeyError(f'sample {results.get("token")} has no camera info for '
                           f'{missing or names} (available: {sorted(images)})')
        imgs, cam2img, lidar2cam, cam2ego = [], [], [], []
        for name in names:
            info = images[name]
            path = info['img_path']
            if not osp.isfile(path):
                raise FileNotFoundError(f'camera image {path} ({name}) not found; check '
                                        'data_root/data_prefix or the nuScenes tree')
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'camera image {path} ({name}) could not be decoded')
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            imgs.append(img.astype(np.float32) if self.to_float32 else img)
            intrinsics = np.eye(4)
            intrinsics[:3, :3] = np.asarray(info['cam2img'], dtype=np.float64)[:3, :3]
            cam2img.append(intrinsics)
            lidar2cam.append(np.asarray(info['lidar2cam'], dtype=np.float64))
            cam2ego.append(np.asarray(info.get('cam2ego', np.eye(4)), dtype=np.float64))
        results['img'] = imgs
        results['img_path'] = [images[name]['img_path'] for name in names]
        results['cam_names'] = names
        results['cam2img'] = np.stack(cam2img)
        results['lidar2cam'] = np.stack(lidar2cam)
        results['cam2ego'] = np.stack(cam2ego)
        results['lidar2img'] = results['cam2img'] @ results['lidar2cam']
        results['img_aug_matrix'] = np.tile(np.eye(4), (len(names), 1, 1))
        results['img_shape'] = [img.shape[:2] for img in imgs]
        results['ori_shape'] = list(results['img_shape'])
        return results


@TRANSFORMS.register_module()
class LoadAnnotations3D(BaseTransform):
    """Copy the usable ground truth of ``results['ann_info']`` into the sample.

    ``gt_bboxes_3d`` float32 (N, 9|7), ``gt_labels_3d`` int64 (N,), plus ``gt_names_3d``
    and ``instance_tokens`` (N,) when present.
    """

    def __init__(self, with_bbox_3d: bool = True, with_label_3d: bool = True):
        self.with_bbox_3d = with_bbox_3d
        self.with_label_3d = with_label_3d

    def transform(self, results: dict) -> dict:
        ann = results.get('ann_info')
        if ann is None:
            raise KeyError(f'sample {results.get("token")} has no ann_info (test info file?); '
                           'remove LoadAnnotations3D from this pipeline')
        if self.with_bbox_3d:
            results['gt_bboxes_3d'] = np.asarray(ann['gt_bboxes_3d'], dtype=np.float32)
        if self.with_label_3d:
            results['gt_labels_3d'] = np.asarray(ann['gt_labels_3d'], dtype=np.int64)
        for key in ('gt_names_3d', 'instance_tokens'):
            if key in ann:
                results[key] = np.asarray(ann[key])
        return results
