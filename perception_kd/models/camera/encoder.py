"""``CameraBEVEncoder``: multi-view images -> a BEV map on the LiDAR encoder's grid.

Follows the camera encoder contract of :mod:`perception_kd.models.detectors`:
``encoder(inputs, data_samples) -> (bev (B, C, H, W), aux)`` with
``aux = {'depth': (B*Ncam, D, h, w) depth-bin probabilities}``, and
``encoder.loss(aux, inputs, data_samples) -> {'loss_depth': ...}``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...constants import TIME_DIM
from ...registry import MODELS
from .geometry import CameraGeometry, stack_metainfo
from .neck import conv_bn_relu


@MODELS.register_module()
class CameraBEVEncoder(BaseModule):
    """Image backbone + neck + view transform (+ a small BEV conv stack).

    Args:
        backbone: e.g. ``dict(type='ResNet', depth=50, out_indices=(2, 3))``.
        neck: e.g. ``dict(type='ImageFPN', in_channels=[1024, 2048], out_channels=256)``.
        view_transform: e.g. ``dict(type='DepthLSSTransform', in_channels=256, ...)``.
        bev_convs: number of 3x3 conv-BN-ReLU layers after the splat (0: none).
        bev_channels: their width (default: the view transform's out_channels).
        depth_keyframe_only: supervise depth with the keyframe's own points only (time-lag
            column 4 == 0) when the clouds carry merged sweeps (e.g. a LiDAR teacher or a
            fusion model reading sweeps): moving objects in earlier sweeps would give wrong
            depths. Clouds with fewer than 5 columns are used as they are.

    Reads ``inputs['imgs']`` (B, Ncam, 3, H, W) float, normalised by the data
    preprocessor, and from each sample's metainfo ``cam2img``, ``lidar2cam``,
    ``img_aug_matrix``, ``bda_mat`` (and ``lidar2img`` plus ``inputs['points']`` for the
    depth loss). ``out_channels`` is the width of the returned BEV map.
    """

    def __init__(self, backbone: dict, neck: dict, view_transform: dict, bev_convs: int = 0,
                 bev_channels: int | None = None, depth_keyframe_only: bool = True,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.depth_keyframe_only = depth_keyframe_only
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.view_transform = MODELS.build(view_transform)
        channels = self.view_transform.out_channels
        bev_channels = bev_channels or channels
        layers = [conv_bn_relu(channels if i == 0 else bev_channels, bev_channels, 3)
                  for i in range(bev_convs)]
        self.bev_conv = nn.Sequential(*layers) if layers else None
        self.out_channels = bev_channels if layers else channels

    @property
    def grid(self):
        """The :class:`BEVGrid` of the output map (the view transform's)."""
        return self.view_transform.grid

    @staticmethod
    def _images(inputs: dict) -> Tensor:
        if 'imgs' not in inputs:
            raise KeyError("CameraBEVEncoder needs inputs['imgs'] (B, Ncam, 3, H, W); the "
                           "pipeline must load and pack the camera images")
        imgs = inputs['imgs']
        if isinstance(imgs, (list, tuple)):
            imgs = torch.stack(list(imgs))
        if imgs.dim() != 5 or imgs.shape[2] != 3:
            raise ValueError(f"inputs['imgs'] must be (B, Ncam, 3, H, W), got {tuple(imgs.shape)}")
        if not imgs.is_floating_point():
            raise TypeError(f"inputs['imgs'] is {imgs.dtype}; images must be normalised float "
                            '(set mean/std in the data preprocessor)')
        return imgs

    def forward(self, inputs: dict, data_samples: Sequence) -> tuple[Tensor, dict[str, Tensor]]:
        """-> BEV (B, C, H_bev, W_bev) in the augmented LiDAR frame, aux {'depth': probs}."""
        imgs = self._images(inputs)
        batch_size, num_cams = imgs.shape[:2]
        if len(data_samples) != batch_size:
            raise ValueError(f'{batch_size} image sets for {len(data_samples)} data samples')
        geometry = CameraGeometry.from_samples(data_samples, num_cams, imgs.device)
        feats = self.backbone(imgs.flatten(0, 1))
        feats = self.neck(feats)
        bev, depth = self.view_transform(feats, geometry, imgs.shape[-2:])
        if self.bev_conv is not None:
            bev = self.bev_conv(bev)
        return bev, dict(depth=depth)

    def loss(self, aux: dict[str, Tensor], inputs: dict,
             data_samples: Sequence) -> dict[str, Tensor]:
        """Depth supervision from ``inputs['points']`` (B tensors (N_b, >=3), augmented
        LiDAR frame) -> ``{'loss_depth': ...}`` (empty when the weight is 0)."""
        if getattr(self.view_transform, 'loss_depth_weight', 1.0) == 0:
            return {}
        if 'points' not in inputs:
            raise KeyError("the depth loss needs inputs['points'] (LiDAR); keep the points in "
                           'the pipeline or set loss_depth_weight=0 in the view transform')
        depth = aux['depth']
        imgs = self._images(inputs)
        num_cams = imgs.shape[1]
        device = depth.device
        lidar2img = torch.as_tensor(stack_metainfo(data_samples, 'lidar2img', num_cams),
                                    device=device)
        bda = torch.as_tensor(stack_metainfo(data_samples, 'bda_mat', None), device=device)
        points = inputs['points']
        if self.depth_keyframe_only:
            points = [p[p[:, TIME_DIM] == 0] if p.shape[1] > TIME_DIM else p for p in points]
        return self.view_transform.loss(depth, points, lidar2img, bda, imgs.shape[-2:])
