"""SECOND-style sparse 3D encoder (spconv 2.x), flattened to a dense BEV map.

Voxel features (M, C) at voxel indices (b, z, y, x) -> submanifold/strided sparse convs
(BN + ReLU) -> one z-compressing strided conv -> dense (B, C_out, D, Y, X) -> height
compression (z folded into channels) -> (B, C_out * D, Y, X). Rows run along +y and
columns along +x, exactly as :class:`perception_kd.structures.BEVGrid` over the point
cloud range with cells of ``voxel_size[0] * prod(stage_strides)`` metres.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence

import spconv.pytorch as spconv
import torch
from torch import Tensor, nn

from ...ops import grid_shape, set_spconv_algo, sparse_conv_block
from ...registry import MODELS


def height_compression(x: spconv.SparseConvTensor) -> Tensor:
    """Sparse (b, z, y, x) sites with C features -> dense (B, C * D, Y, X), z folded into
    channels (channel ``c * D + z``), as ``x.dense().flatten(1, 2)``."""
    depth, rows, cols = (int(s) for s in x.spatial_shape)
    idx = x.indices.long()
    dense = x.features.new_zeros((x.batch_size, depth, rows, cols, x.features.shape[1]))
    dense = dense.index_put((idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]), x.features)
    return dense.permute(0, 4, 1, 2, 3).flatten(1, 2)


class SparseBasicBlock(spconv.SparseModule):
    """Residual block of two 3x3x3 submanifold convs (BN; ReLU after the sum)."""

    def __init__(self, channels: int, indice_key: str):
        super().__init__()
        self.conv1 = sparse_conv_block(channels, channels, 3, padding=1, indice_key=indice_key)
        self.conv2 = sparse_conv_block(channels, channels, 3, padding=1, indice_key=indice_key,
                                       act=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        out = self.conv2(self.conv1(x))
        return out.replace_feature(self.relu(out.features + x.features))


@MODELS.register_module()
class SparseEncoder(nn.Module):
    """SECOND / VoxelResBackBone8x-like sparse encoder with height compression.

    Args:
        in_channels: voxel feature channels (e.g. 5 from :class:`MeanVFE`).
        voxel_size, point_cloud_range: the voxel grid of the data preprocessor.
        base_channels: output channels of the input submanifold conv.
        stage_channels: channels of each stage.
        stage_blocks: blocks per stage after its down-sampling (a residual block of two
            submanifold convs for ``block_type='basic'``, one submanifold conv for 'conv').
        stage_strides: 1 (no down-sampling) or 2 per stage; a stride-2 stage starts with a
            3x3x3 sparse conv of stride 2 in x, y and z.
        stage_z_paddings: z padding of each stage's down-sampling conv (x/y padding is 1,
            so the x/y sizes halve exactly).
        out_channels: channels of the final conv, kernel (out_z_kernel, 1, 1) and stride
            (out_z_stride, 1, 1), that compresses z before the BEV flattening.
        z_pad: extra z layers of the sparse grid (SECOND: 41 for 40 voxels of 0.2 m).
        block_type: 'basic' or 'conv'.

    ``forward(features (M, C), coors (M, 4) int (b, z, y, x), batch_size) -> (B, out_channels *
    out_depth, Y, X)`` with (Y, X) = ``bev_shape``.
    """

    def __init__(self,
                 in_channels: int,
                 voxel_size: Sequence[float],
                 point_cloud_range: Sequence[float],
                 base_channels: int = 16,
                 stage_channels: Sequence[int] = (16, 32, 64, 128),
                 stage_blocks: Sequence[int] = (2, 2, 2, 2),
                 stage_strides: Sequence[int] = (1, 2, 2, 2),
                 stage_z_paddings: Sequence[int] = (1, 1, 1, 0),
                 out_channels: int = 128,
                 out_z_kernel: int = 3,
                 out_z_stride: int = 2,
                 z_pad: int = 1,
                 block_type: str = 'basic'):
        super().__init__()
        num = len(stage_channels)
        if not (len(stage_blocks) == len(stage_strides) == len(stage_z_paddings) == num):
            raise ValueError('stage_channels, stage_blocks, stage_strides and stage_z_paddings '
                             f'need one entry per stage, got {stage_channels}, {stage_blocks}, '
                             f'{stage_strides}, {stage_z_paddings}')
        if any(s not in (1, 2) for s in stage_strides):
            raise ValueError(f'stage_strides must be 1 or 2, got {stage_strides}')
        if block_type not in ('basic', 'conv'):
            raise ValueError(f"block_type must be 'basic' or 'conv', got {block_type!r}")
        nx, ny, nz = grid_shape(voxel_size, point_cloud_range)
        self.sparse_shape = (nz + z_pad, ny, nx)  # spconv order (z, y, x)
        self.stride = 1
        for s in stage_strides:
            self.stride *= s
        if nx % self.stride or ny % self.stride:
            raise ValueError(f'the voxel grid ({nx} x {ny} voxels along x, y) is not divisible by '
                             f'the total stride {self.stride}: the BEV grid would not cover the '
                             'point cloud range exactly; change voxel_size or the strides')

        self.conv_input = sparse_conv_block(in_channels, base_channels, 3, padding=1,
                                            indice_key='subm0')
        stages, channels, depth, level = [], base_channels, self.sparse_shape[0], 0
        for i, (width, blocks, stride, pad_z) in enumerate(
                zip(stage_channels, stage_blocks, stage_strides, stage_z_paddings)):
            layers = []
            level += stride == 2
            key = f'subm{level}'  # submanifold convs of one resolution share their indices
            if stride == 2:
                layers.append(sparse_conv_block(channels, width, 3, stride=2, padding=(pad_z, 1, 1),
                                                conv_type='spconv', indice_key=f'down{i + 1}'))
                depth = (depth + 2 * pad_z - 3) // 2 + 1
            elif channels != width:
                layers.append(sparse_conv_block(channels, width, 3, padding=1, indice_key=key))
            for _ in range(blocks):
                layers.append(SparseBasicBlock(width, key) if block_type == 'basic' else
                              sparse_conv_block(width, width, 3, padding=1, indice_key=key))
            stages.append(spconv.SparseSequential(*layers))
            channels = width
            if depth < 1:
                raise ValueError(f'stage {i} leaves no z layer (sparse z size '
                                 f'{self.sparse_shape[0]}); lower stage_z_paddings/strides')
        self.stages = nn.ModuleList(stages)
        self.conv_out = sparse_conv_block(channels, out_channels, (out_z_kernel, 1, 1),
                                          stride=(out_z_stride, 1, 1), padding=0,
                                          conv_type='spconv', indice_key='down_out')
        self.out_depth = (depth - out_z_kernel) // out_z_stride + 1
        if self.out_depth < 1:
            raise ValueError(f'z size {depth} before conv_out is smaller than out_z_kernel '
                             f'{out_z_kernel}; raise z_pad or lower the strides')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels) * self.out_depth
        self.bev_shape = (ny // self.stride, nx // self.stride)
        self._algo_device: torch.device | None = None

    def forward(self, features: Tensor, coors: Tensor, batch_size: int) -> Tensor:
        if features.dim() != 2 or features.shape[1] != self.in_channels:
            raise ValueError(f'SparseEncoder(in_channels={self.in_channels}) got voxel '
                             f'features of shape {tuple(features.shape)}')
        if coors.dim() != 2 or coors.shape[1] != 4 or len(coors) != len(features):
            raise ValueError('coors must be (M, 4) (b, z, y, x) with one row per voxel, got '
                             f'{tuple(coors.shape)} for {len(features)} voxels')
        if features.device != self._algo_device:  # Native algorithm on CPU, implicit GEMM on CUDA
            set_spconv_algo(self, features.device)
            self._algo_device = features.device
        if len(features) == 0:  # no voxel in the batch: spconv cannot run on empty indices
            return self._empty(features, batch_size)
        # spconv has no bfloat16 CPU kernels: under CPU autocast (--amp) the sparse part runs
        # in float32 and the BEV map re-enters autocast downstream.
        cpu_autocast = features.device.type == 'cpu' and torch.is_autocast_enabled('cpu')
        with torch.autocast('cpu', enabled=False) if cpu_autocast else contextlib.nullcontext():
            x = spconv.SparseConvTensor(features.float() if cpu_autocast else features,
                                        coors.int(), list(self.sparse_shape), batch_size)
            x = self.conv_input(x)
            for stage in self.stages:
                x = stage(x)
            return height_compression(self.conv_out(x))

    def _empty(self, features: Tensor, batch_size: int) -> Tensor:
        bev = features.new_zeros((batch_size, self.out_channels) + self.bev_shape)
        # keep every parameter in the graph (zero gradients), e.g. for DDP
        return bev + 0.0 * sum(p.sum() for p in self.parameters())

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the BEV output."""
        return (self.out_channels,) + self.bev_shape
