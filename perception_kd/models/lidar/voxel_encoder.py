"""Voxel feature encoders: padded voxels (M, P, C) -> one feature vector per voxel (M, C')."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ...registry import MODELS


class FeatureScaleMismatch(RuntimeError):
    """A checkpoint's recorded point-feature scaling differs from the model's config."""


@MODELS.register_module()
class MeanVFE(nn.Module):
    """Mean of the points of each voxel (mmdet3d's ``HardSimpleVFE``, OpenPCDet's ``MeanVFE``).

    Args:
        num_features: leading point columns kept (e.g. 5: x, y, z, intensity, time lag).
        feature_scale: optional divisor per kept column (e.g. ``(51.2, 51.2, 5, 255, 0.1)``
            for x, y, z in metres, intensity, time lag in seconds), so that every channel
            reaches the first sparse convolution with a comparable spread. None (the
            mmdet3d-compatible default): raw features. The scaling is stored in the
            checkpoint (buffer ``feature_scale``); loading weights trained with another
            scaling raises :class:`FeatureScaleMismatch` naming both.

    ``forward(voxels (M, P, C) zero-padded, num_points (M,)) -> (M, num_features)``; the
    xyz means are in the LiDAR frame (metres), divided by ``feature_scale`` when given.
    """

    def __init__(self, num_features: int = 5, feature_scale: Sequence[float] | None = None):
        super().__init__()
        self.num_features = int(num_features)
        scale = torch.ones(self.num_features)
        if feature_scale is not None:
            if len(feature_scale) != self.num_features:
                raise ValueError(f'MeanVFE feature_scale has {len(feature_scale)} values for '
                                 f'{self.num_features} features: give one per column')
            scale = torch.tensor([float(s) for s in feature_scale])
            if not bool(torch.all(scale > 0)):
                raise ValueError(f'MeanVFE feature_scale must be positive, got {feature_scale}')
        # persistent: a checkpoint records the scaling it was trained with
        self.register_buffer('feature_scale', scale)

    @property
    def out_channels(self) -> int:
        return self.num_features

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + 'feature_scale'
        if key in state_dict:
            saved = state_dict[key]
            if saved.shape != self.feature_scale.shape or not torch.allclose(
                    saved.to(self.feature_scale), self.feature_scale, rtol=1e-6, atol=0):
                raise FeatureScaleMismatch(
                    f'{key}: the checkpoint was trained with point-feature scaling '
                    f'{saved.tolist()} but this model is configured with '
                    f'{self.feature_scale.tolist()}; set voxel_encoder.feature_scale to the '
                    "checkpoint's values (None for all ones) or use a matching checkpoint")
        elif strict:  # a checkpoint from before the buffer existed: raw features (all ones)
            if not torch.all(self.feature_scale == 1):
                raise FeatureScaleMismatch(
                    f'{key}: the checkpoint records no point-feature scaling (trained on raw '
                    f'features) but this model divides them by {self.feature_scale.tolist()}; '
                    'set voxel_encoder.feature_scale=None or use a matching checkpoint')
            state_dict = dict(state_dict)
            state_dict[key] = self.feature_scale.clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, voxels: Tensor, num_points: Tensor) -> Tensor:
        if voxels.dim() != 3 or voxels.shape[2] < self.num_features:
            raise ValueError(f'MeanVFE(num_features={self.num_features}) needs voxels '
                             f'(M, P, C>={self.num_features}), got {tuple(voxels.shape)}')
        total = voxels[:, :, :self.num_features].sum(dim=1)
        count = num_points.to(total.dtype).clamp(min=1.0).unsqueeze(1)
        return total / count / self.feature_scale.to(total.dtype)
