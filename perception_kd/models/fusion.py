"""BEV fusers: several modality BEV maps on one grid -> one fused map (BEVFusion-style).

Input: a list of (B, C_i, H, W) maps on the same BEV grid, in the order the detector gives
them (``BEVDetector``: LiDAR first, then camera). Output (B, out_channels, H, W): the
fusion model's ``bev_low``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..registry import MODELS


def _concat(maps: Sequence[Tensor], in_channels: Sequence[int]) -> Tensor:
    if len(maps) != len(in_channels):
        raise ValueError(f'fuser expects {len(in_channels)} BEV maps (in_channels='
                         f'{list(in_channels)}), got {len(maps)}')
    shapes = [tuple(m.shape) for m in maps]
    if any(m.dim() != 4 for m in maps) or len({(s[0],) + s[2:] for s in shapes}) != 1:
        raise ValueError(f'BEV maps to fuse must be (B, C, H, W) on one grid, got {shapes}; '
                         'give every encoder the same point_cloud_range and BEV cell')
    channels = [m.shape[1] for m in maps]
    if channels != list(in_channels):
        raise ValueError(f'BEV maps have channels {channels}, fuser in_channels='
                         f'{list(in_channels)}')
    return torch.cat(list(maps), 1)


@MODELS.register_module()
class ConvFuser(BaseModule):
    """Concatenate the maps and mix them with a 3x3 conv + BN + ReLU (BEVFusion).

    Args:
        in_channels: channels of each input map, in input order.
        out_channels: channels of the fused map.
        kernel_size: of the mixing conv (3 as BEVFusion; 1 is ~9x cheaper, e.g. on CPU,
            leaving the spatial mixing to the BEV backbone).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, kernel_size: int = 3,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.in_channels = [int(c) for c in in_channels]
        self.out_channels = out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(sum(self.in_channels), out_channels, kernel_size, padding=kernel_size // 2,
                      bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        """List of (B, C_i, H, W) -> (B, out_channels, H, W)."""
        return self.conv(_concat(maps, self.in_channels))


@MODELS.register_module()
class ChannelAttentionFuser(ConvFuser):
    """Concatenate, reweight the channels by squeeze-and-excitation, then conv to the width.

    The SE gate (global average pool -> FC -> ReLU -> FC -> sigmoid) lets the fuser lean on
    whichever modality is informative for the scene; the conv + BN + ReLU then maps the
    concatenation to ``out_channels``.

    Args:
        in_channels, out_channels, kernel_size: as :class:`ConvFuser`.
        reduction: channel reduction of the SE bottleneck.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, kernel_size: int = 3,
                 reduction: int = 4, init_cfg: dict | None = None):
        super().__init__(in_channels, out_channels, kernel_size, init_cfg=init_cfg)
        total = sum(self.in_channels)
        hidden = max(total // reduction, 8)
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(total, hidden, 1),
                                       nn.ReLU(inplace=True), nn.Conv2d(hidden, total, 1),
                                       nn.Sigmoid())

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        """List of (B, C_i, H, W) -> (B, out_channels, H, W)."""
        fused = _concat(maps, self.in_channels)
        return self.conv(fused * self.attention(fused))
