"""``SweepOccupancyBEV``: a time-indexed BEV stack of the merged sweeps (the motion cue).

A moving object leaves a trail: the points of a sweep ``dt`` seconds old lie ``-v dt``
behind the keyframe's. Averaged into one voxel feature (``MeanVFE``) the time lag is one
channel among five, and the sparse encoder has to discover the trail through several
strided layers. This branch makes the trail explicit, the way stacked frames feed optical
flow networks: the points of each time bin (the keyframe, each sweep) are counted on a fine
BEV grid, ``log1p`` of the counts is folded into channels at the detector's BEV cell
(``pixel_unshuffle``), and two 3x3 convolutions turn the stack into a feature map that
:class:`LidarBEVEncoder` adds to the sparse encoder's BEV map. A 2D convolution sees the
displacement between the bins' occupancy directly.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...constants import TIME_DIM
from ...registry import MODELS


@MODELS.register_module()
class SweepOccupancyBEV(nn.Module):
    """Per-time-bin point counts on a fine BEV grid -> (B, out_channels, H, W) features.

    Args:
        point_cloud_range: (x0, y0, z0, x1, y1, z1) metres, as the voxelizer's.
        bev_cell: the detector's BEV cell (metres); ``H, W`` follow from the range.
        fine_cell: cell of the occupancy grids (metres); ``bev_cell / fine_cell`` must be an
            integer ``s``; each time bin gives ``s * s`` channels per BEV cell.
        time_edges: upper edges (seconds, increasing) of the time bins: a point with lag
            ``t`` goes to the first bin with ``t < edge``; points older than the last edge
            are not counted. E.g. ``(0.05, 0.15, 0.25)``: the keyframe and sweeps 0.1 s and
            0.2 s old (the synthetic world's 10 Hz sweeps); nuScenes' 20 Hz sweeps with
            ``(0.025, 0.075, ...)``.
        out_channels: channels of the output (those of the sparse encoder's BEV map when
            the two are added).
        hidden_channels: width of the first 3x3 convolution.
        time_dim: column of the time lag in the voxels' point features.

    ``forward(voxels (M, P, C) zero-padded, num_points (M,), coors (M, 4) (b, z, y, x),
    batch_size) -> (B, out_channels, H, W)``, W along +x and H along +y of the LiDAR frame
    (the layout of :class:`SparseEncoder`'s output).
    """

    def __init__(self, point_cloud_range: Sequence[float], bev_cell: float, fine_cell: float,
                 time_edges: Sequence[float], out_channels: int, hidden_channels: int = 32,
                 time_dim: int = TIME_DIM):
        super().__init__()
        x0, y0, _, x1, y1, _ = (float(v) for v in point_cloud_range)
        ratio = bev_cell / fine_cell
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise ValueError(f'SweepOccupancyBEV: bev_cell {bev_cell} must be a whole multiple '
                             f'of fine_cell {fine_cell}')
        edges = [float(e) for e in time_edges]
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
            raise ValueError(f'SweepOccupancyBEV: time_edges must be positive and increasing, '
                             f'got {time_edges}')
        self.factor = int(round(ratio))
        self.fine_cell = float(fine_cell)
        self.origin = (x0, y0)
        width, height = round((x1 - x0) / bev_cell), round((y1 - y0) / bev_cell)
        self.bev_shape = (height, width)
        self.fine_shape = (height * self.factor, width * self.factor)
        self.register_buffer('time_edges', torch.tensor(edges), persistent=False)
        self.time_dim = int(time_dim)
        self.out_channels = int(out_channels)
        in_channels = len(edges) * self.factor ** 2
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def occupancy(self, voxels: Tensor, num_points: Tensor, coors: Tensor,
                  batch_size: int) -> Tensor:
        """(B, bins, H * s, W * s) point counts of each time bin on the fine grid."""
        num_bins = len(self.time_edges)
        hf, wf = self.fine_shape
        counts = voxels.new_zeros(batch_size * num_bins * hf * wf)
        if len(voxels):
            valid = torch.arange(voxels.shape[1], device=voxels.device)[None] < \
                num_points[:, None]
            points = voxels[valid]                                          # (N, C)
            batch = coors[:, 0].long()[:, None].expand_as(valid)[valid]     # (N,)
            lag = points[:, self.time_dim].contiguous()
            bins = torch.bucketize(lag, self.time_edges.to(lag), right=True)
            ix = torch.floor((points[:, 0] - self.origin[0]) / self.fine_cell).long()
            iy = torch.floor((points[:, 1] - self.origin[1]) / self.fine_cell).long()
            keep = (bins < num_bins) & (ix >= 0) & (ix < wf) & (iy >= 0) & (iy < hf)
            index = ((batch * num_bins + bins) * hf + iy) * wf + ix
            counts.index_add_(0, index[keep], torch.ones_like(lag[keep]))
        return counts.view(batch_size, num_bins, hf, wf)

    def forward(self, voxels: Tensor, num_points: Tensor, coors: Tensor,
                batch_size: int) -> Tensor:
        with torch.no_grad():
            stack = torch.log1p(self.occupancy(voxels.float(), num_points, coors, batch_size))
            stack = F.pixel_unshuffle(stack, self.factor)           # (B, bins * s * s, H, W)
        return self.net(stack.to(voxels.dtype))
