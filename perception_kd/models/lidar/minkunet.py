"""MinkUNet-style sparse U-Net (spconv 2.x) giving one feature per input voxel.

Layout (as MinkUNet / mmdet3d's ``MinkUNetBackbone``, built with spconv)::

    conv_input: two 3x3x3 submanifold convs  in_channels -> base_channels     (stride 1)
    encoder i:  2x2x2 sparse conv, stride 2 (same channels), then encoder_blocks[i]
                residual blocks -> encoder_channels[i]                         (stride 2^(i+1))
    decoder i:  2x2x2 inverse conv (undoes encoder level L-1-i) -> decoder_channels[i],
                concatenated with the skip of that resolution (encoder L-2-i, or conv_input
                for the last one), then decoder_blocks[i] residual blocks -> decoder_channels[i]

Residual blocks are two 3x3x3 submanifold convs with BatchNorm1d + ReLU (a 1x1x1 projection
on the shortcut when the channels change). Inverse convs restore exactly the active sites of
the conv they invert, so the output has one row per input voxel, in input order.

Example::

    >>> net = MinkUNet(in_channels=4, base_channels=16, encoder_channels=(16, 32),
    ...                encoder_blocks=(1, 1), decoder_channels=(32, 16), decoder_blocks=(1, 1))
    >>> feats = net(torch.rand(5, 4), torch.tensor([[0, 0, 0, i] for i in range(5)]).int(), 1)
    >>> feats.shape
    torch.Size([5, 16])
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence

import spconv.pytorch as spconv
import torch
from torch import Tensor, nn

from ...ops import set_spconv_algo, sparse_conv_block
from ...registry import MODELS

# BatchNorm as MinkowskiEngine / mmdet3d's MinkUNet (torch defaults), not SECOND's 0.01
_BN = dict(bn_eps=1e-5, bn_momentum=0.1)


class ResidualBlock(spconv.SparseModule):
    """Two 3x3x3 submanifold convs (BN, ReLU after the sum), 1x1x1 projection if needed."""

    def __init__(self, in_channels: int, out_channels: int, indice_key: str):
        super().__init__()
        self.conv1 = sparse_conv_block(in_channels, out_channels, 3, padding=1,
                                       indice_key=indice_key, **_BN)
        self.conv2 = sparse_conv_block(out_channels, out_channels, 3, padding=1,
                                       indice_key=indice_key, act=False, **_BN)
        self.shortcut = None if in_channels == out_channels else sparse_conv_block(
            in_channels, out_channels, 1, act=False, **_BN)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        identity = x.features if self.shortcut is None else self.shortcut(x).features
        out = self.conv2(self.conv1(x))
        return out.replace_feature(self.relu(out.features + identity))


def _blocks(in_channels: int, out_channels: int, num: int, key: str) -> list:
    return [ResidualBlock(in_channels if i == 0 else out_channels, out_channels, key)
            for i in range(num)]


@MODELS.register_module()
class MinkUNet(nn.Module):
    """Sparse U-Net for per-voxel features (LiDAR segmentation, LiMA's 3D student).

    Args:
        in_channels: voxel feature channels (e.g. 4: x, y, z, intensity).
        base_channels: channels of the stem (``conv_input``) and its skip.
        encoder_channels, encoder_blocks: per down-sampling stage (L stages).
        decoder_channels, decoder_blocks: per up-sampling stage (L stages; the last one
            returns to full resolution). ``out_channels = decoder_channels[-1]``.
        sparse_shape: default ``(z, y, x)`` voxel grid size (``SegDataPreprocessor``'s
            ``sparse_shape``); forward may pass one; without either it is inferred from
            the coordinates. It is rounded up to a multiple of ``2**L`` per axis.

    ``forward(features (N, C) float, coors (N, 4) int (b, z, y, x), batch_size, sparse_shape
    =None) -> (N, out_channels)``: one row per input voxel, in input order. Runs on CPU
    (spconv's Native algorithm) and CUDA (its default); the device is picked per forward.
    """

    def __init__(self,
                 in_channels: int,
                 base_channels: int = 32,
                 encoder_channels: Sequence[int] = (32, 64, 128, 256),
                 encoder_blocks: Sequence[int] = (2, 3, 4, 6),
                 decoder_channels: Sequence[int] = (256, 128, 96, 96),
                 decoder_blocks: Sequence[int] = (2, 2, 2, 2),
                 sparse_shape: Sequence[int] | None = None):
        super().__init__()
        num = len(encoder_channels)
        if not (len(encoder_blocks) == num and len(decoder_channels) == num
                and len(decoder_blocks) == num and num >= 1):
            raise ValueError('encoder_channels, encoder_blocks, decoder_channels and '
                             'decoder_blocks need one entry per stage (same length >= 1), got '
                             f'{encoder_channels}, {encoder_blocks}, {decoder_channels}, '
                             f'{decoder_blocks}')
        if min(encoder_blocks) < 1 or min(decoder_blocks) < 1:
            raise ValueError('every stage needs at least one residual block (it changes the '
                             f'channels), got {encoder_blocks} and {decoder_blocks}')
        self.in_channels = int(in_channels)
        self.num_stages = num
        self.sparse_shape = None if sparse_shape is None else tuple(int(s) for s in sparse_shape)
        self.conv_input = spconv.SparseSequential(
            sparse_conv_block(in_channels, base_channels, 3, padding=1, indice_key='subm0', **_BN),
            sparse_conv_block(base_channels, base_channels, 3, padding=1, indice_key='subm0',
                              **_BN))
        skips, channels = [base_channels], base_channels
        self.encoder = nn.ModuleList()
        for i, (width, blocks) in enumerate(zip(encoder_channels, encoder_blocks)):
            down = sparse_conv_block(channels, channels, 2, stride=2, conv_type='spconv',
                                     indice_key=f'down{i + 1}', **_BN)
            self.encoder.append(spconv.SparseSequential(
                down, *_blocks(channels, width, blocks, f'subm{i + 1}')))
            channels = width
            skips.append(width)
        self.decoder_up = nn.ModuleList()
        self.decoder_blocks = nn.ModuleList()
        for i, (width, blocks) in enumerate(zip(decoder_channels, decoder_blocks)):
            level = num - i                       # resolution level this stage leaves
            self.decoder_up.append(sparse_conv_block(channels, width, 2, conv_type='inverse',
                                                     indice_key=f'down{level}', **_BN))
            skip = skips[level - 1]
            self.decoder_blocks.append(spconv.SparseSequential(
                *_blocks(width + skip, width, blocks, f'subm{level - 1}')))
            channels = width
        self.out_channels = int(channels)
        self._algo_device: torch.device | None = None

    def grid_shape(self, coors: Tensor, sparse_shape: Sequence[int] | None = None) -> list:
        """``(z, y, x)`` spatial shape for spconv: the given/configured one, or the
        coordinates' extent, rounded up to a multiple of ``2**num_stages``."""
        shape = sparse_shape if sparse_shape is not None else self.sparse_shape
        if shape is None:
            shape = (coors[:, 1:].max(0).values + 1).tolist() if len(coors) else [1, 1, 1]
        mult = 2 ** self.num_stages
        return [-(-int(s) // mult) * mult for s in shape]

    def forward(self, features: Tensor, coors: Tensor, batch_size: int,
                sparse_shape: Sequence[int] | None = None) -> Tensor:
        if features.dim() != 2 or features.shape[1] != self.in_channels:
            raise ValueError(f'MinkUNet(in_channels={self.in_channels}) got voxel features of '
                             f'shape {tuple(features.shape)}')
        if coors.dim() != 2 or coors.shape[1] != 4 or len(coors) != len(features):
            raise ValueError('coors must be (N, 4) (b, z, y, x) with one row per voxel, got '
                             f'{tuple(coors.shape)} for {len(features)} voxels')
        if features.device != self._algo_device:  # Native algorithm on CPU, implicit GEMM on CUDA
            set_spconv_algo(self, features.device)
            self._algo_device = features.device
        if len(features) == 0:  # spconv cannot run on empty indices; keep params in the graph
            return features.new_zeros((0, self.out_channels)) + \
                0.0 * sum(p.sum() for p in self.parameters())
        # spconv has no bfloat16 CPU kernels: under CPU autocast run the U-Net in float32
        cpu_autocast = features.device.type == 'cpu' and torch.is_autocast_enabled('cpu')
        with torch.autocast('cpu', enabled=False) if cpu_autocast else contextlib.nullcontext():
            x = spconv.SparseConvTensor(features.float() if cpu_autocast else features,
                                        coors.int(), self.grid_shape(coors, sparse_shape),
                                        batch_size)
            x = self.conv_input(x)
            skips = [x]
            for stage in self.encoder:
                x = stage(x)
                skips.append(x)
            for i, (up, blocks) in enumerate(zip(self.decoder_up, self.decoder_blocks)):
                x = up(x)
                skip = skips[self.num_stages - 1 - i]
                x = blocks(x.replace_feature(torch.cat([x.features, skip.features], 1)))
        if x.features.shape[0] != len(features):
            raise RuntimeError(f'MinkUNet returned {x.features.shape[0]} rows for '
                               f'{len(features)} voxels; are there duplicate coordinates?')
        return x.features
