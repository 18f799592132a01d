"""``DepthNet``: per feature cell, a depth distribution over D bins and C context channels.

BEVDepth-style: a shared 3x3 reduction, then a depth branch and a context branch, each
optionally modulated by a camera-aware channel gate (an MLP over intrinsics, image
augmentation and extrinsics, squeeze-and-excitation style), so the network can account for
focal length and resize when it reads depth from appearance.
"""
from __future__ import annotations

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from .neck import conv_bn_relu

CAMERA_PARAM_DIM = 22  # see CameraGeometry.camera_params


class CameraGate(nn.Module):
    """(B*Ncam, P) camera parameters -> (B*Ncam, C, 1, 1) sigmoid channel gate."""

    def __init__(self, channels: int, param_dim: int = CAMERA_PARAM_DIM, hidden: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.BatchNorm1d(param_dim), nn.Linear(param_dim, hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, feat: Tensor, params: Tensor) -> Tensor:
        return feat * torch.sigmoid(self.mlp(params.to(feat.dtype)))[..., None, None]


class DepthNet(BaseModule):
    """Image features (B*Ncam, C_in, h, w) -> depth logits (B*Ncam, D, h, w) and context
    (B*Ncam, C_ctx, h, w).

    Args:
        in_channels: C_in of the image neck.
        mid_channels: width of the shared and depth layers.
        context_channels: C_ctx, the channels splatted to BEV.
        num_bins: D.
        camera_aware: gate both branches by an MLP of the camera parameters.
    """

    def __init__(self, in_channels: int, mid_channels: int, context_channels: int, num_bins: int,
                 camera_aware: bool = True, init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.reduce = conv_bn_relu(in_channels, mid_channels, 3)
        self.camera_aware = camera_aware
        if camera_aware:
            self.depth_gate = CameraGate(mid_channels)
            self.context_gate = CameraGate(mid_channels)
        self.depth_head = nn.Sequential(conv_bn_relu(mid_channels, mid_channels, 3),
                                        nn.Conv2d(mid_channels, num_bins, 1))
        self.context_head = nn.Conv2d(mid_channels, context_channels, 1)

    def forward(self, feats: Tensor,
                camera_params: Tensor | None = None) -> tuple[Tensor, Tensor]:
        feat = self.reduce(feats)
        depth_feat, context_feat = feat, feat
        if self.camera_aware:
            if camera_params is None:
                raise ValueError('DepthNet(camera_aware=True) needs camera_params (B*Ncam, '
                                 f'{CAMERA_PARAM_DIM})')
            depth_feat = self.depth_gate(feat, camera_params)
            context_feat = self.context_gate(feat, camera_params)
        return self.depth_head(depth_feat), self.context_head(context_feat)
