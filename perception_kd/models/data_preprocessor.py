"""``Det3DDataPreprocessor``: a pseudo-collated batch -> model inputs on the model's device.

Input (``pseudo_collate`` of packed samples, see ``Pack3DDetInputs``)::

    {'inputs': {'points': [Tensor (N_b, C)], 'imgs': [Tensor (Ncam, 3, H, W) uint8],
                'ocf_points': [Tensor (M_b, C)]},            # any subset of the keys
     'data_samples': [Det3DDataSample]}

Output ``{'inputs': ..., 'data_samples': [...]}`` where ``inputs`` keeps every point list
(``points``, ``ocf_points``: lists of (N_b, C) tensors, LiDAR frame, on the device) and adds,
for each point key present, its voxels (``points`` -> ``voxels``, ``ocf_points`` ->
``ocf_voxels``)::

    dict(voxels=(M, P, C) float, num_points=(M,) int32, coors=(M, 4) int32 (b, z, y, x),
         batch_size=B)

and ``imgs`` as one float tensor (B, Ncam, 3, H, W) normalised with ``mean``/``std`` (RGB).
Image-to-LiDAR pretraining inputs pass through untouched (not voxelized, not normalised):
``pairing`` stays a list of (M_b, 4) int64 tensors ``[point, camera, row, col]`` (point
indices into that sample's ``points``); ``superpixels`` and ``img_semantics`` become one
(B, Ncam, H, W) int64 tensor when the samples' maps share a shape, else stay a list.
A sample whose cloud is empty (or entirely out of range) has zero voxels: no row of
``coors`` carries its batch index; encoders give it an all-zero BEV map.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from ..ops import voxelize_batch
from ..ops.voxelize import _check_geometry
from ..registry import MODELS

# inputs key of a point cloud -> inputs key of its voxels
VOXEL_KEYS = {'points': 'voxels', 'ocf_points': 'ocf_voxels'}
# per-sample integer inputs that pass through (listed; maps stacked when shapes agree)
PAIRING_KEY, MAP_KEYS = 'pairing', ('superpixels', 'img_semantics')


@MODELS.register_module()
class Det3DDataPreprocessor(BaseDataPreprocessor):
    """Move a batch to the device, voxelize its point clouds and normalise its images.

    Args:
        voxelize_cfg: ``dict(voxel_size=(dx, dy, dz), point_cloud_range=(x0, y0, z0, x1,
            y1, z1), max_num_points=P, max_voxels=(train, test) or int, deterministic=True)``
            (see :func:`perception_kd.ops.voxelize`). None: no voxelization (camera models).
        point_keys: the point-cloud inputs to voxelize when present.
        mean, std: per-channel image normalisation, in the images' channel order after
            ``flip_channels`` (defaults: ImageNet, RGB, 0..255 scale).
        flip_channels: reverse the image channel order first (RGB <-> BGR).
        non_blocking: passed to mmengine's ``BaseDataPreprocessor``.
    """

    def __init__(self,
                 voxelize_cfg: dict | None = None,
                 point_keys: Sequence[str] = ('points', 'ocf_points'),
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 flip_channels: bool = False,
                 non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        unknown = set(point_keys) - set(VOXEL_KEYS)
        if unknown:
            raise KeyError(f'point_keys {sorted(unknown)} unknown; known: {sorted(VOXEL_KEYS)}')
        self.point_keys = tuple(point_keys)
        self.voxelize_cfg = self._check_voxelize_cfg(voxelize_cfg) if voxelize_cfg else None
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std must be 3 values (std > 0), got {mean}, {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.flip_channels = flip_channels

    @staticmethod
    def _check_voxelize_cfg(cfg: dict) -> dict:
        cfg = dict(cfg)
        known = {'voxel_size', 'point_cloud_range', 'max_num_points', 'max_voxels', 'deterministic',
                 'backend'}
        missing = {'voxel_size', 'point_cloud_range', 'max_num_points'} - set(cfg)
        if set(cfg) - known or missing:
            raise KeyError(f'voxelize_cfg: unknown keys {sorted(set(cfg) - known)}, missing '
                           f'{sorted(missing)}; expected {sorted(known)}')
        cfg['voxel_size'], cfg['point_cloud_range'] = _check_geometry(cfg['voxel_size'],
                                                                      cfg['point_cloud_range'])
        max_voxels = cfg.get('max_voxels', 20000)
        if isinstance(max_voxels, int):
            max_voxels = (max_voxels, max_voxels)
        if len(max_voxels) != 2:
            raise ValueError(f'max_voxels must be an int or (train, test), got {max_voxels}')
        cfg['max_voxels'] = tuple(int(v) for v in max_voxels)
        cfg['max_num_points'] = int(cfg['max_num_points'])
        cfg.setdefault('deterministic', True)
        cfg.setdefault('backend', 'auto')
        return cfg

    def forward(self, data: dict, training: bool = False) -> dict:
        """Batch -> ``dict(inputs=..., data_samples=...)`` (see the module doc)."""
        if not isinstance(data, dict) or 'inputs' not in data:
            raise TypeError('Det3DDataPreprocessor expects a pseudo-collated batch dict with '
                            f"'inputs' (and 'data_samples'), got {type(data).__name__}")
        data = self.cast_data(data)
        inputs: dict = dict(data['inputs'])
        samples = data.get('data_samples')
        for key in self.point_keys:
            if key not in inputs:
                continue
            clouds = _as_list(inputs[key], key)
            self._check_points(clouds, key, samples)
            inputs[key] = clouds
            if self.voxelize_cfg is not None:
                inputs[VOXEL_KEYS[key]] = self.voxelize(clouds, training)
        if 'imgs' in inputs:
            inputs['imgs'] = self.normalize_images(inputs['imgs'])
        if PAIRING_KEY in inputs:
            inputs[PAIRING_KEY] = _as_list(inputs[PAIRING_KEY], PAIRING_KEY)
        for key in MAP_KEYS:
            if key in inputs:
                inputs[key] = _stack_if_same_shape(inputs[key])
        return dict(inputs=inputs, data_samples=samples)

    @torch.no_grad()
    def voxelize(self, clouds: list[Tensor], training: bool = False) -> dict:
        """B clouds (N_b, C) -> ``dict(voxels, num_points, coors (b, z, y, x), batch_size)``."""
        cfg = self.voxelize_cfg
        max_voxels = cfg['max_voxels'][0 if training else 1]
        out = voxelize_batch(clouds, cfg['voxel_size'], cfg['point_cloud_range'],
                             cfg['max_num_points'], max_voxels, cfg['deterministic'],
                             cfg['backend'])
        return dict(voxels=out.voxels, num_points=out.num_points, coors=out.coords,
                    batch_size=len(clouds))

    def normalize_images(self, imgs: Tensor | Sequence[Tensor]) -> Tensor:
        """B tensors (Ncam, 3, H, W) (or one (B, Ncam, 3, H, W)) -> float (B, Ncam, 3, H, W)."""
        if not isinstance(imgs, Tensor):
            imgs = list(imgs)
            shapes = sorted({tuple(img.shape) for img in imgs})
            if len(shapes) != 1 or len(shapes[0]) != 4:
                raise ValueError(f'camera images of a batch must all be (Ncam, 3, H, W) of one '
                                 f'shape, got {shapes}; resize them in the pipeline (ImageAug3D)')
            imgs = torch.stack(imgs)
        if imgs.dim() != 5 or imgs.shape[2] != 3:
            raise ValueError(f'imgs must be (B, Ncam, 3, H, W), got {tuple(imgs.shape)}')
        imgs = imgs.float()
        if self.flip_channels:
            imgs = imgs.flip(2)
        return (imgs - self.mean) / self.std

    @staticmethod
    def _check_points(clouds: list[Tensor], key: str, samples) -> None:
        for idx, cloud in enumerate(clouds):
            if cloud.dim() != 2 or cloud.shape[1] < 3:
                raise ValueError(f'{key} of {_sample_name(samples, idx)} must be (N, C>=3), got '
                                 f'{tuple(cloud.shape)}')
            if not cloud.is_floating_point():
                raise TypeError(f'{key} of {_sample_name(samples, idx)} must be a float tensor, '
                                f'got {cloud.dtype}')
            bad = (~torch.isfinite(cloud)).any(1)
            if bool(bad.any()):
                raise ValueError(f'{key} of {_sample_name(samples, idx)} has {int(bad.sum())} '
                                 'points with NaN/inf values; check its point cloud file and '
                                 'the transforms before packing')


def _as_list(value, key: str) -> list[Tensor]:
    if isinstance(value, Tensor):
        if value.dim() == 2:  # a single cloud
            return [value]
        raise ValueError(f"inputs['{key}'] must be a list of (N, C) tensors, got a tensor of "
                         f'shape {tuple(value.shape)}')
    clouds = list(value)
    if not clouds:
        raise ValueError(f"inputs['{key}'] is an empty list")
    return clouds


def _stack_if_same_shape(value) -> Tensor | list[Tensor]:
    """B per-sample (Ncam, H, W) maps -> (B, Ncam, H, W) when their shapes agree, else a list."""
    if isinstance(value, Tensor):
        return value if value.dim() == 4 else value[None]
    maps = list(value)
    if maps and len({tuple(m.shape) for m in maps}) == 1:
        return torch.stack(maps)
    return maps


def _sample_name(samples, idx: int) -> str:
    token = None
    if samples is not None and idx < len(samples):
        token = samples[idx].metainfo.get('token')
    return f'sample {token!r} (batch index {idx})' if token else f'batch index {idx}'
