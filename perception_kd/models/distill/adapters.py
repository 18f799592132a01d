"""Adapters: small conv connectors on student feature levels, trained with the student and
dropped at export (UniDistill puts one after the student's low- and high-level maps when
the teacher is weaker, camera -> LiDAR; they also map channel counts)."""
from __future__ import annotations

from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class ConvAdapter(nn.Module):
    """``kernel_size`` x ``kernel_size`` conv (no bias) + BN + ReLU (``num_layers`` times),
    (B, in_channels, H, W) -> (B, out_channels, H, W) on the same grid."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 num_layers: int = 1, with_relu: bool = True):
        super().__init__()
        if kernel_size not in (1, 3) or num_layers < 1:
            raise ValueError(f'ConvAdapter takes kernel_size 1 or 3 and num_layers >= 1, got '
                             f'{kernel_size}, {num_layers}')
        layers, cin = [], in_channels
        for _ in range(num_layers):
            layers += [
                nn.Conv2d(cin, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm2d(out_channels),
            ]
            if with_relu:
                layers.append(nn.ReLU(inplace=True))
            cin = out_channels
        self.layers = nn.Sequential(*layers)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'ConvAdapter expects {self.in_channels} channels, got {x.shape[1]}')
        return self.layers(x)
