"""Camera geometry of a batch: metainfo matrices, the frustum, lifting and projection.

Frames and conventions (see ``datasets/transforms/augmentation.py``):
- ``cam2img`` (Ncam, 4, 4): intrinsics padded; camera (x, y, z) -> (u*d, v*d, d, 1) of
  the original image, d = depth along the optical axis.
- ``lidar2cam`` (Ncam, 4, 4): original (un-augmented) LiDAR frame -> camera.
- ``img_aug_matrix`` (Ncam, 4, 4): original pixel (u, v, d, 1) -> augmented pixel.
- ``lidar2img`` (Ncam, 4, 4): original LiDAR -> augmented (u*d, v*d, d, 1).
- ``bda_mat`` (4, 4): original LiDAR -> augmented LiDAR (the frame of ``points``, boxes
  and the BEV maps).
Pixel coordinates are OpenCV's: pixel k has its centre at k. A feature map of stride s
(= image size / feature size) has cell j covering u in [j*s - 0.5, (j+1)*s - 0.5), centre
(j + 0.5)*s - 0.5. Depth bin k of ``dbound = (d_min, d_max, step)`` covers
[d_min + k*step, d_min + (k+1)*step) and lifts at its centre.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

REQUIRED_KEYS = ('cam2img', 'lidar2cam', 'lidar2img')


def num_depth_bins(dbound: Sequence[float]) -> int:
    """Number of bins of ``dbound = (d_min, d_max, step)``."""
    if len(dbound) != 3 or dbound[2] <= 0 or dbound[1] <= dbound[0] or dbound[0] < 0:
        raise ValueError(f'dbound must be (d_min >= 0, d_max > d_min, step > 0), got {dbound}')
    return int(round((dbound[1] - dbound[0]) / dbound[2]))


def stack_metainfo(data_samples: Sequence, key: str, num_cams: int | None) -> np.ndarray:
    """metainfo[key] of every sample -> (B, [Ncam,] 4, 4) float64; identity if allowed & absent."""
    mats = []
    for idx, sample in enumerate(data_samples):
        meta = sample.metainfo if hasattr(sample, 'metainfo') else sample
        if key not in meta:
            if key in REQUIRED_KEYS:
                raise KeyError(f'camera metainfo key {key!r} missing from data sample {idx} '
                               f'(token {meta.get("token", "?")}); the pipeline must run '
                               'LoadMultiViewImages and pack its keys with Pack3DDetInputs')
            shape = (num_cams, 4, 4) if num_cams else (4, 4)
            mats.append(np.broadcast_to(np.eye(4), shape))
            continue
        value = meta[key]
        value = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
        expected = (num_cams, 4, 4) if num_cams else (4, 4)
        if value.shape != expected:
            raise ValueError(f'metainfo {key!r} of data sample {idx} has shape {value.shape}, '
                             f'expected {expected}')
        mats.append(value.astype(np.float64))
    return np.stack(mats)


@dataclass
class CameraGeometry:
    """The camera matrices of a batch, float64 on one device.

    cam2img, lidar2cam, img_aug: (B, Ncam, 4, 4); bda: (B, 4, 4).
    """
    cam2img: Tensor
    lidar2cam: Tensor
    img_aug: Tensor
    bda: Tensor

    @classmethod
    def from_samples(cls, data_samples: Sequence, num_cams: int,
                     device: torch.device | str = 'cpu') -> CameraGeometry:
        """Read ``cam2img``, ``lidar2cam`` (required), ``img_aug_matrix`` and ``bda_mat``
        (identity when absent) from the samples' metainfo."""
        def get(key, cams):
            return torch.as_tensor(stack_metainfo(data_samples, key, cams), device=device)
        return cls(get('cam2img', num_cams), get('lidar2cam', num_cams),
                   get('img_aug_matrix', num_cams), get('bda_mat', None))

    @property
    def img2lidar(self) -> Tensor:
        """(B, Ncam, 4, 4): original (u*d, v*d, d, 1) -> augmented LiDAR frame."""
        return self.bda[:, None] @ torch.linalg.inv(self.lidar2cam) @ torch.linalg.inv(self.cam2img)

    @property
    def lidar2img(self) -> Tensor:
        """(B, Ncam, 4, 4): augmented LiDAR -> augmented (u*d, v*d, d, 1), via the chain."""
        # img_aug acts on (u, v, d, 1); the same warp acting on (u*d, v*d, d, 1)
        proj = torch.zeros_like(self.img_aug)
        proj[..., :2, :2] = self.img_aug[..., :2, :2]
        proj[..., :2, 2] = self.img_aug[..., :2, 3]
        proj[..., 2:, 2:] = self.img_aug[..., 2:, 2:]
        return proj @ self.cam2img @ self.lidar2cam @ torch.linalg.inv(self.bda)[:, None]

    def camera_params(self) -> Tensor:
        """(B*Ncam, 22) float32 per-camera vector for camera-aware depth (BEVDepth-style):
        fx, fy, cx, cy; img_aug rows 0-1 (a, b, t); cam2lidar[:3, :4]."""
        intr = self.cam2img[..., [0, 1, 0, 1], [0, 1, 2, 2]]
        aug = self.img_aug[..., :2, :][..., [0, 1, 3]].flatten(-2)
        cam2lidar = torch.linalg.inv(self.lidar2cam)[..., :3, :4].flatten(-2)
        return torch.cat([intr, aug, cam2lidar], -1).flatten(0, 1).float()


def build_frustum(img_hw: tuple[int, int], feat_hw: tuple[int, int], dbound: Sequence[float],
                  device: torch.device | str = 'cpu') -> Tensor:
    """(D, h, w, 3) augmented-image (u, v, d) of every feature cell centre and depth bin."""
    (img_h, img_w), (feat_h, feat_w) = img_hw, feat_hw
    step_u, step_v = img_w / feat_w, img_h / feat_h
    depth = dbound[0] + (torch.arange(num_depth_bins(dbound), device=device) + 0.5) * dbound[2]
    u = (torch.arange(feat_w, device=device) + 0.5) * step_u - 0.5
    v = (torch.arange(feat_h, device=device) + 0.5) * step_v - 0.5
    grid_d, grid_v, grid_u = torch.meshgrid(depth, v, u, indexing='ij')
    return torch.stack([grid_u, grid_v, grid_d], -1).float()


def full_precision(fn):
    """Run ``fn`` with autocast off: coordinates stay float32 under ``--amp`` (bfloat16 has
    ~3 significant digits: 0.25 m at 50 m)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.autocast('cpu', enabled=False), torch.autocast('cuda', enabled=False):
            return fn(*args, **kwargs)
    return wrapper


@full_precision
def lift_to_lidar(uvd: Tensor, geometry: CameraGeometry) -> Tensor:
    """Augmented pixels with depth -> augmented LiDAR frame.

    uvd: (P, 3) shared by every camera, or (B, Ncam, P, 3). Returns (B, Ncam, P, 3) float32:
    inverse(img_aug) -> (u*d, v*d, d) -> inverse(cam2img) -> inverse(lidar2cam) -> bda.
    """
    inv_aug = torch.linalg.inv(geometry.img_aug).float()  # (B, N, 4, 4)
    img2lidar = geometry.img2lidar.float()
    uvd = uvd.float()
    if uvd.dim() == 2:
        uvd = uvd[None, None]
    orig = uvd @ inv_aug[..., :3, :3].transpose(-1, -2) + inv_aug[..., None, :3, 3]
    orig = torch.cat([orig[..., :2] * orig[..., 2:3], orig[..., 2:3]], -1)
    return orig @ img2lidar[..., :3, :3].transpose(-1, -2) + img2lidar[..., None, :3, 3]


@full_precision
def project_to_image(points: Tensor, lidar2img: Tensor, bda: Tensor) -> Tensor:
    """Augmented-LiDAR points (P, 3) -> (Ncam, P, 3) augmented-image (u, v, d).

    lidar2img: (Ncam, 4, 4) with the image augmentation included; bda: (4, 4). Points
    behind a camera get d <= 0 (their u, v are meaningless).
    """
    mat = (lidar2img.double() @ torch.linalg.inv(bda.double())).float()
    cam = points[:, :3].float() @ mat[:, :3, :3].transpose(-1, -2) + mat[:, None, :3, 3]
    depth = cam[..., 2:3]
    uv = cam[..., :2] / depth.clamp(min=1e-5)
    return torch.cat([uv, depth], -1)
