"""``ImageFPN``: fuse several backbone strides into one image feature map.

Each level (N, C_i, H_i, W_i) gets a 1x1 lateral conv to ``out_channels``; the coarser
levels are upsampled (bilinear) to the first (finest) level's size, concatenated and mixed
by a 1x1 and a 3x3 conv (BN, ReLU), as BEVFusion's LSS FPN does. Output
(N, out_channels, H_0, W_0), i.e. at the stride of the first input (16 for layer3+layer4).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@MODELS.register_module()
class ImageFPN(BaseModule):
    """Multi-scale image features -> one map at the finest input stride.

    Args:
        in_channels: channels of each input level, finest first (e.g. ResNet-50 layer3,
            layer4: ``[1024, 2048]``).
        out_channels: channels of the fused map.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not in_channels:
            raise ValueError('ImageFPN needs at least one input level')
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = out_channels
        self.laterals = nn.ModuleList(conv_bn_relu(c, out_channels, 1) for c in self.in_channels)
        self.fuse = nn.Sequential(
            conv_bn_relu(out_channels * len(self.in_channels), out_channels, 1),
            conv_bn_relu(out_channels, out_channels, 3))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Tuple of (N, C_i, H_i, W_i), finest first -> (N, out_channels, H_0, W_0)."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'ImageFPN expects {len(self.in_channels)} levels, got {len(feats)}')
        size = feats[0].shape[-2:]
        maps = []
        for lateral, feat in zip(self.laterals, feats):
            out = lateral(feat)
            if out.shape[-2:] != size:
                out = F.interpolate(out, size=size, mode='bilinear', align_corners=False)
            maps.append(out)
        return self.fuse(torch.cat(maps, 1))
