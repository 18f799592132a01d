"""Voxel feature encoders: padded voxels (M, P, C) -> one feature vector per voxel (M, C')."""
from __future__ import annotations

from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class MeanVFE(nn.Module):
    """Mean of the points of each voxel (mmdet3d's ``HardSimpleVFE``, OpenPCDet's ``MeanVFE``).

    Args:
        num_features: leading point columns kept (e.g. 5: x, y, z, intensity, time lag).

    ``forward(voxels (M, P, C) zero-padded, num_points (M,)) -> (M, num_features)``; the
    xyz means are in the LiDAR frame (metres).
    """

    def __init__(self, num_features: int = 5):
        super().__init__()
        self.num_features = int(num_features)

    @property
    def out_channels(self) -> int:
        return self.num_features

    def forward(self, voxels: Tensor, num_points: Tensor) -> Tensor:
        if voxels.dim() != 3 or voxels.shape[2] < self.num_features:
            raise ValueError(f'MeanVFE(num_features={self.num_features}) needs voxels '
                             f'(M, P, C>={self.num_features}), got {tuple(voxels.shape)}')
        total = voxels[:, :, :self.num_features].sum(dim=1)
        count = num_points.to(total.dtype).clamp(min=1.0).unsqueeze(1)
        return total / count
