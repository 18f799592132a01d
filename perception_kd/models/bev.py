"""2D BEV networks: a SECOND-style backbone and a SECONDFPN-style neck (-> ``bev_high``).

Maps are (B, C, H, W) on the BEV grid convention (W along +x, H along +y); the neck
brings every backbone stage back to the input grid, so ``bev_high`` shares ``bev_low``'s
(H, W).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1,
                 kernel_size: int = 3) -> list[nn.Module]:
    """Conv2d (no bias) + BatchNorm2d (eps 1e-3, momentum 0.01) + ReLU, as a layer list."""
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                      padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]


@MODELS.register_module()
class SECONDBackbone(nn.Module):
    """Stages of 3x3 convs; each stage starts with a (possibly strided) conv.

    Args:
        in_channels: channels of ``bev_low``.
        out_channels: channels of each stage, e.g. (128, 256).
        layer_nums: 3x3 convs after each stage's first conv, e.g. (5, 5).
        layer_strides: stride of each stage's first conv relative to the previous stage,
            e.g. (1, 2).

    ``forward((B, in_channels, H, W)) -> tuple of (B, out_channels[i], H / S_i, W / S_i)``
    with S_i the cumulative stride of stage i.
    """

    def __init__(self, in_channels: int, out_channels: Sequence[int] = (128, 256),
                 layer_nums: Sequence[int] = (5, 5), layer_strides: Sequence[int] = (1, 2)):
        super().__init__()
        if not len(out_channels) == len(layer_nums) == len(layer_strides):
            raise ValueError('out_channels, layer_nums and layer_strides need one entry per '
                             f'stage, got {out_channels}, {layer_nums}, {layer_strides}')
        self.in_channels = int(in_channels)
        self.out_channels = tuple(int(c) for c in out_channels)
        self.strides = tuple(int(s) for s in layer_strides)
        stages, channels = [], self.in_channels
        for width, num, stride in zip(self.out_channels, layer_nums, self.strides):
            layers = conv_bn_relu(channels, width, stride)
            for _ in range(num):
                layers += conv_bn_relu(width, width)
            stages.append(nn.Sequential(*layers))
            channels = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'SECONDBackbone(in_channels={self.in_channels}) got a map of shape '
                             f'{tuple(x.shape)}; set bev_backbone.in_channels to the encoder '
                             'output channels')
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class SECONDFPN(nn.Module):
    """Upsample every backbone stage to a common grid and concatenate along channels.

    Args:
        in_channels: channels of each backbone stage.
        out_channels: channels of each upsampled branch (the output has their sum).
        upsample_strides: per stage; >= 1 upsamples with a transposed conv of that
            kernel/stride, < 1 (e.g. 0.5) downsamples with a strided conv of 1/stride.

    ``forward(tuple of (B, C_i, H_i, W_i)) -> Tensor (B, sum(out_channels), H, W)``.
    """

    def __init__(self, in_channels: Sequence[int] = (128, 256),
                 out_channels: Sequence[int] = (256, 256),
                 upsample_strides: Sequence[float] = (1, 2)):
        super().__init__()
        if not len(in_channels) == len(out_channels) == len(upsample_strides):
            raise ValueError('in_channels, out_channels and upsample_strides need one entry per '
                             f'stage, got {in_channels}, {out_channels}, {upsample_strides}')
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = int(sum(out_channels))
        blocks = []
        for cin, cout, stride in zip(self.in_channels, out_channels, upsample_strides):
            if stride >= 1:
                step = int(round(stride))
                conv = nn.ConvTranspose2d(cin, cout, step, stride=step, bias=False)
            else:
                step = int(round(1 / stride))
                conv = nn.Conv2d(cin, cout, step, stride=step, bias=False)
            blocks.append(nn.Sequential(conv, nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
                                        nn.ReLU(inplace=True)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        if isinstance(feats, Tensor):
            feats = (feats,)
        if len(feats) != len(self.blocks):
            raise ValueError(f'SECONDFPN expects {len(self.blocks)} maps, got {len(feats)}')
        outs = [block(feat) for block, feat in zip(self.blocks, feats)]
        shapes = {tuple(o.shape[-2:]) for o in outs}
        if len(shapes) != 1:
            raise ValueError(f'SECONDFPN branches end on different grids {sorted(shapes)}; '
                             'upsample_strides must undo the backbone layer_strides')
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
