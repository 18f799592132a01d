"""Point-to-pixel pairing: LiDAR points -> the camera pixels they project onto.

Frames: points are in the keyframe LiDAR frame (after any ``BEVAugmentation``, undone with
``inv(bda_mat)``); ``lidar2img`` (Ncam, 4, 4) maps a LiDAR point ``p`` to ``(u*d, v*d, d,
1)`` (lidar -> ego(t_lidar) -> global -> ego(t_cam) -> camera -> intrinsics, then the
image augmentation of ``ImageAug3D``). Pixel ``(row, col)`` covers ``u in [col, col+1)``,
``v in [row, row+1)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ['PointPixelPairs', 'project_points_to_cameras']


@dataclass
class PointPixelPairs:
    """M (point, camera, pixel) pairs; a point seen by two cameras gives two pairs.

    point_index, cam_index, row, col: (M,) int64; depth: (M,) float32 metres along the
    camera axis. Pairs are ordered by camera, then by point index.
    """
    point_index: np.ndarray
    cam_index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    depth: np.ndarray

    def __len__(self) -> int:
        return len(self.point_index)

    def as_array(self) -> np.ndarray:
        """(M, 4) int64 ``[point_index, cam_index, row, col]``."""
        return np.stack([self.point_index, self.cam_index, self.row, self.col], 1) \
            .astype(np.int64).reshape(-1, 4)


def _shapes(img_shape, num_cams: int) -> np.ndarray:
    """(H, W) or a per-camera list of (H, W) -> (Ncam, 2) int64."""
    shapes = np.asarray(img_shape, dtype=np.int64)
    if shapes.shape == (2,):
        shapes = np.tile(shapes, (num_cams, 1))
    if shapes.ndim != 2 or shapes.shape[1] < 2 or len(shapes) != num_cams:
        raise ValueError(f'img_shape must be (H, W) or one (H, W) per camera ({num_cams}), '
                         f'got {img_shape}')
    return shapes[:, :2]


def project_points_to_cameras(points_xyz: np.ndarray, lidar2img: np.ndarray,
                              img_shape: Sequence, min_depth: float = 1.0,
                              bda_mat: np.ndarray | None = None) -> PointPixelPairs:
    """Pair every point with each camera whose image it lands in at depth > ``min_depth``.

    Args:
        points_xyz: (N, >=3) points, keyframe LiDAR frame (augmented by ``bda_mat``).
        lidar2img: (Ncam, 4, 4) projections of the un-augmented LiDAR frame.
        img_shape: (H, W) of every image, or a list of one (H, W) per camera.
        min_depth: metres; nearer points (and points behind the camera) are dropped.
        bda_mat: 4x4 original -> augmented LiDAR transform of ``BEVAugmentation``;
            points go through its inverse first. None: identity.
    """
    xyz = np.asarray(points_xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] < 3:
        raise ValueError(f'points must be (N, >=3), got shape {xyz.shape}')
    proj = np.asarray(lidar2img, dtype=np.float64)
    if proj.ndim != 3 or proj.shape[1:] != (4, 4):
        raise ValueError(f'lidar2img must be (Ncam, 4, 4), got shape {proj.shape}')
    shapes = _shapes(img_shape, len(proj))
    if bda_mat is not None:
        proj = proj @ np.linalg.inv(np.asarray(bda_mat, dtype=np.float64))
    homo = np.concatenate([xyz[:, :3], np.ones((len(xyz), 1))], 1)
    cam = np.einsum('cij,nj->cni', proj[:, :3], homo)           # (Ncam, N, 3)
    depth = cam[..., 2]
    valid = depth > min_depth
    with np.errstate(divide='ignore', invalid='ignore'):
        u = np.where(valid, cam[..., 0] / depth, -1.0)
        v = np.where(valid, cam[..., 1] / depth, -1.0)
    height, width = shapes[:, 0:1], shapes[:, 1:2]
    valid &= (u >= 0) & (u < width) & (v >= 0) & (v < height)
    cam_index, point_index = np.nonzero(valid)
    return PointPixelPairs(
        point_index=point_index.astype(np.int64), cam_index=cam_index.astype(np.int64),
        row=np.floor(v[cam_index, point_index]).astype(np.int64),
        col=np.floor(u[cam_index, point_index]).astype(np.int64),
        depth=depth[cam_index, point_index].astype(np.float32))
