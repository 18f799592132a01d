"""Geometric augmentations that keep LiDAR, boxes and cameras consistent.

- :class:`ImageAug3D`: per-camera resize / crop / flip / rotate (BEVFusion style), one
  affine warp per image. ``img_aug_matrix`` (Ncam, 4, 4) maps original pixel coordinates
  ``(u, v, d, 1)`` (after the perspective division, depth kept) to augmented ones, as
  BEVFusion's; ``lidar2img`` is updated to project straight onto the augmented pixels.
  ``cam2img`` / ``lidar2cam`` stay those of the real camera. Per-camera label maps
  loaded before it (:data:`IMAGE_MAP_KEYS`: superpixels, 2D semantics; lists of (H, W)
  integer arrays, one per camera) get the same warp with nearest-neighbour sampling
  (0 outside the source image).
- :class:`BEVAugmentation`: one random rotation about z, scale, translation and flips of
  the whole LiDAR scene (points, boxes, extra clouds such as ``ocf_points``), recorded as
  ``bda_mat`` (4x4, original LiDAR frame -> augmented LiDAR frame). Camera matrices are
  NOT changed: they keep mapping the original LiDAR frame, so a point of the augmented
  scene projects with ``lidar2img @ inv(bda_mat)`` (BEVDet/BEVFusion convention).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import TRANSFORMS
from ...structures import limit_yaw, transform_points
from .base import BaseTransform

#: Per-camera integer maps that :class:`ImageAug3D` warps like the images (nearest).
IMAGE_MAP_KEYS = ('img_superpixels', 'img_semantics')


@TRANSFORMS.register_module()
class ImageAug3D(BaseTransform):
    """Resize, crop, flip and rotate every camera image (BEVFusion's ``ImageAug3D``).

    Per image: scale by ``resize`` (about the origin), crop a ``final_size`` window whose
    top is ``int((1 - bot_pct) * H * resize) - fH`` and left is random (centred in test
    mode), mirror horizontally (``u -> fW - 1 - u``), rotate by ``rot`` degrees
    counter-clockwise (as seen on screen) about the window centre. Pixels outside the
    source image are 0.

    Args:
        final_size: output (H, W).
        resize_lim: range of the scale factor (absolute, relative to the input image).
        bot_pct_lim: range of the fraction of the image bottom cut away.
        rot_lim: range of the rotation in degrees.
        rand_flip: flip with probability 1/2 in training.
        is_train: random parameters; otherwise mean resize/bot_pct, centred crop, no
            flip, no rotation.
    """

    def __init__(self, final_size: Sequence[int], resize_lim: Sequence[float] = (1.0, 1.0),
                 bot_pct_lim: Sequence[float] = (0.0, 0.0), rot_lim: Sequence[float] = (0.0, 0.0),
                 rand_flip: bool = False, is_train: bool = False):
        if len(final_size) != 2:
            raise ValueError(f'final_size must be (H, W), got {final_size}')
        self.final_size = (int(final_size[0]), int(final_size[1]))
        self.resize_lim = tuple(resize_lim)
        self.bot_pct_lim = tuple(bot_pct_lim)
        self.rot_lim = tuple(rot_lim)
        self.rand_flip = rand_flip
        self.is_train = is_train

    def sample_affine(self, height: int, width: int) -> np.ndarray:
        """Random (or test-mode) 3x3 pixel affine: original (u, v, 1) -> augmented (u, v, 1)."""
        f_h, f_w = self.final_size
        if self.is_train:
            resize = np.random.uniform(*self.resize_lim)
            bot_pct = np.random.uniform(*self.bot_pct_lim)
            crop_w = int(np.random.uniform(0, max(0, int(width * resize) - f_w)))
            flip = self.rand_flip and bool(np.random.randint(2))
            rot = np.random.uniform(*self.rot_lim)
        else:
            resize, bot_pct = np.mean(self.resize_lim), np.mean(self.bot_pct_lim)
            crop_w = int(max(0, int(width * resize) - f_w) / 2)
            flip, rot = False, 0.0
        crop_h = int((1 - bot_pct) * int(height * resize)) - f_h
        mat = np.diag([resize, resize, 1.0])
        mat[:2, 2] = [-crop_w, -crop_h]
        if flip:
            mat = np.array([[-1.0, 0, f_w - 1], [0, 1, 0], [0, 0, 1]]) @ mat
        theta = np.deg2rad(rot)
        centre = np.array([(f_w - 1) / 2.0, (f_h - 1) / 2.0])
        rotation = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
        rot_mat = np.eye(3)
        rot_mat[:2, :2] = rotation
        rot_mat[:2, 2] = centre - rotation @ centre
        return rot_mat @ mat

    def transform(self, results: dict) -> dict:
        import cv2
        f_h, f_w = self.final_size
        imgs, aug_mats, projections = [], [], []
        map_keys = [key for key in IMAGE_MAP_KEYS if key in results]
        maps = {key: [] for key in map_keys}
        for idx, img in enumerate(results['img']):
            affine = self.sample_affine(*img.shape[:2])
            imgs.append(cv2.warpAffine(img, affine[:2], (f_w, f_h), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0))
            for key in map_keys:
                maps[key].append(warp_label_map(results[key][idx], affine, (f_h, f_w)))
            aug = np.eye(4)  # acts on (u, v, d, 1)
            aug[:2, :2], aug[:2, 3] = affine[:2, :2], affine[:2, 2]
            proj = np.eye(4)  # acts on (u*d, v*d, d, 1)
            proj[:2, :2], proj[:2, 2] = affine[:2, :2], affine[:2, 2]
            aug_mats.append(aug)
            projections.append(proj)
        num = len(imgs)
        results['img'] = imgs
        results.update(maps)
        results['img_aug_matrix'] = np.stack(aug_mats) @ results.get(
            'img_aug_matrix', np.tile(np.eye(4), (num, 1, 1)))
        results['lidar2img'] = np.stack(projections) @ results['lidar2img']
        results['img_shape'] = [(f_h, f_w)] * num
        return results


def warp_label_map(label_map: np.ndarray, affine: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Warp an (H, W) integer map by a 3x3 pixel affine (original -> augmented) to
    ``size`` (H, W) with nearest-neighbour sampling; 0 outside the source. Keeps the dtype
    (int32 for int64 input, which OpenCV cannot warp)."""
    import cv2
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise ValueError(f'label maps must be (H, W), got shape {label_map.shape}')
    src = label_map.astype(np.int32) if label_map.dtype in (np.int64, np.uint32) else label_map
    out = cv2.warpAffine(src, np.asarray(affine, np.float64)[:2], (int(size[1]), int(size[0])),
                         flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


@TRANSFORMS.register_module()
class BEVAugmentation(BaseTransform):
    """Random global rotation about z, scale, translation and flips of the LiDAR scene.

    Composition (applied to points in this order): rotate by ``a ~ U(rot_range)`` rad,
    scale by ``s ~ U(scale_range)``, translate by ``t ~ N(0, translation_std)``, then flip.
    ``flip_x`` mirrors the x axis (``x -> -x``: yaw -> pi - yaw, vx -> -vx), ``flip_y``
    mirrors the y axis (``y -> -y``: yaw -> -yaw, vy -> -vy).

    Updates ``points`` (N, C) (xyz only), every cloud of ``extra_point_keys`` present,
    ``gt_bboxes_3d`` (N, 7|9): centres moved, dims scaled, yaw turned/mirrored (wrapped to
    [-pi, pi)), velocity rotated/scaled/mirrored. ``bda_mat`` = this 4x4 @ previous one.
    Also records ``pcd_rotation`` (rad), ``pcd_scale_factor``, ``pcd_flip_x/y``.
    """

    def __init__(self, rot_range: Sequence[float] = (-0.3925, 0.3925),
                 scale_range: Sequence[float] = (0.95, 1.05), flip_x_prob: float = 0.5,
                 flip_y_prob: float = 0.5, translation_std: float | Sequence[float] = 0.0,
                 extra_point_keys: Sequence[str] = ('ocf_points',)):
        self.rot_range = tuple(rot_range)
        self.scale_range = tuple(scale_range)
        self.flip_x_prob = flip_x_prob
        self.flip_y_prob = flip_y_prob
        self.translation_std = np.broadcast_to(np.asarray(translation_std, dtype=np.float64), 3)
        self.extra_point_keys = tuple(extra_point_keys)

    def sample_matrix(self) -> tuple:
        """Random 4x4 original->augmented LiDAR transform and its parameters."""
        angle = np.random.uniform(*self.rot_range)
        scale = np.random.uniform(*self.scale_range)
        shift = np.random.normal(0.0, 1.0, 3) * self.translation_std
        flip_x = bool(np.random.rand() < self.flip_x_prob)
        flip_y = bool(np.random.rand() < self.flip_y_prob)
        return bev_matrix(angle, scale, shift, flip_x, flip_y), \
            dict(pcd_rotation=angle, pcd_scale_factor=scale, pcd_trans=shift,
                 pcd_flip_x=flip_x, pcd_flip_y=flip_y)

    def transform(self, results: dict) -> dict:
        mat, params = self.sample_matrix()
        for key in ('points',) + self.extra_point_keys:
            if key in results:
                results[key] = transform_points(mat, results[key])
        if 'gt_bboxes_3d' in results:
            results['gt_bboxes_3d'] = transform_boxes(results['gt_bboxes_3d'], mat)
        results['bda_mat'] = mat @ results.get('bda_mat', np.eye(4))
        results.update(params)
        return results


def bev_matrix(angle: float, scale: float, shift: Sequence[float] = (0.0, 0.0, 0.0),
               flip_x: bool = False, flip_y: bool = False) -> np.ndarray:
    """4x4 ``flip @ translate @ scale @ rotz(angle)`` (see :class:`BEVAugmentation`)."""
    mat = np.eye(4)
    cos, sin = np.cos(angle), np.sin(angle)
    mat[:3, :3] = scale * np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    mat[:3, 3] = shift
    flip = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0, 1.0, 1.0])
    return flip @ mat


def transform_boxes(boxes: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a similarity transform about z (rotation/uniform scale/flips/shift) to boxes.

    boxes: (N, 7|9) ``(x, y, z, l, w, h, yaw[, vx, vy])``; mat: 4x4 whose 3x3 part is
    ``scale * (rotation about z, possibly mirrored)``. The yaw follows the transformed
    length axis; velocities are transformed by the linear part. Keeps the dtype.
    """
    out = np.array(boxes, dtype=np.float64, copy=True)
    if len(out) == 0:
        return out.astype(boxes.dtype)
    linear = mat[:3, :3]
    scale = np.cbrt(abs(np.linalg.det(linear)))
    out[:, :3] = out[:, :3] @ linear.T + mat[:3, 3]
    out[:, 3:6] *= scale
    heading = np.stack([np.cos(out[:, 6]), np.sin(out[:, 6])], 1) @ linear[:2, :2].T
    out[:, 6] = limit_yaw(np.arctan2(heading[:, 1], heading[:, 0]))
    if out.shape[1] >= 9:
        out[:, 7:9] = out[:, 7:9] @ linear[:2, :2].T
    return out.astype(boxes.dtype)
