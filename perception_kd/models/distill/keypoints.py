"""Foreground key points of UniDistill: 9 BEV points per ground-truth box, and bilinear
sampling of any BEV map at them.

For a box ``(x, y, z, l, w, h, yaw, ...)`` (LiDAR frame of the sample as given to the
model, i.e. after BEV augmentation) the BEV corners are, in this order,

    c1 = R(yaw) (+l/2, +w/2), c2 = R(yaw) (-l/2, +w/2),
    c3 = R(yaw) (-l/2, -w/2), c4 = R(yaw) (+l/2, -w/2)      (+ the centre (x, y))

and the 9 key points are ``[c1, c2, c3, c4, centre, (c1+c2)/2, (c2+c3)/2, (c3+c4)/2,
(c4+c1)/2]``. Sampling follows :class:`perception_kd.structures.BEVGrid` (rows along +y,
columns along +x, a cell's value sits at its centre): ``F.grid_sample`` with
``align_corners=False`` and zero padding, so a point at the centre of cell (i, j) reads
exactly ``map[:, :, i, j]`` and points off the map read 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ...structures import BEVGrid

NUM_KEYPOINTS = 9


def box_keypoints(boxes: Tensor) -> Tensor:
    """Boxes (N, >=7) -> key points (N, 9, 2) in metres (see the module doc for the order)."""
    if boxes.dim() != 2 or boxes.shape[1] < 7:
        raise ValueError(
            f'boxes must be (N, >=7) (x, y, z, l, w, h, yaw, ...), got {tuple(boxes.shape)}'
        )
    centre = boxes[:, None, 0:2]                                         # (N, 1, 2)
    half_l, half_w = boxes[:, 3] / 2, boxes[:, 4] / 2
    local = torch.stack([torch.stack([half_l, half_w], -1), torch.stack([-half_l, half_w], -1),
                         torch.stack([-half_l, -half_w], -1), torch.stack([half_l, -half_w], -1)],
                        1)                                               # (N, 4, 2)
    cos, sin = boxes[:, 6].cos()[:, None], boxes[:, 6].sin()[:, None]
    corners = torch.stack([local[..., 0] * cos - local[..., 1] * sin,
                           local[..., 0] * sin + local[..., 1] * cos], -1) + centre
    mids = (corners + corners.roll(-1, dims=1)) / 2                     # (c1+c2)/2 ... (c4+c1)/2
    return torch.cat([corners, centre, mids], 1)


class KeypointSampler:
    """Selects the valid boxes of a batch and samples BEV maps at their key points.

    A box is valid when its values are finite, its length and width are positive and its
    centre lies on the grid. Batches (or samples) without a valid box give empty results.

    Args:
        grid: the BEV grid every sampled map lives on.
    """

    def __init__(self, grid: BEVGrid):
        self.grid = grid

    def valid_boxes(self, data_samples: Sequence) -> list[Tensor]:
        """One (N_b, >=7) float tensor of valid ground-truth boxes per sample."""
        out = []
        for idx, sample in enumerate(data_samples):
            if 'gt_instances_3d' not in sample:
                raise KeyError(f'sample {sample.metainfo.get("token", idx)!r} has no '
                               'gt_instances_3d; distillation needs the ground-truth boxes '
                               "('gt_bboxes_3d' packed by the training pipeline)")
            boxes = torch.as_tensor(sample.gt_instances_3d.bboxes_3d).float()
            if boxes.numel() == 0:
                out.append(boxes.reshape(0, max(boxes.shape[-1] if boxes.dim() == 2 else 9, 7)))
                continue
            x, y = boxes[:, 0], boxes[:, 1]
            on_grid = (x >= self.grid.x_min) & (x < self.grid.x_max) & \
                (y >= self.grid.y_min) & (y < self.grid.y_max)
            keep = (
                torch.isfinite(boxes[:, :7]).all(1)
                & (boxes[:, 3] > 0)
                & (boxes[:, 4] > 0)
                & on_grid
            )
            out.append(boxes[keep])
        return out

    def keypoints(self, boxes: Sequence[Tensor]) -> list[Tensor]:
        """Per sample: key points (N_b, 9, 2) in metres."""
        return [box_keypoints(b) for b in boxes]

    def sample(self, feat: Tensor, keypoints: Sequence[Tensor]) -> Tensor:
        """Bilinear samples of ``feat`` (B, C, H, W) at the key points of each sample.

        Args:
            feat: a BEV map on :attr:`grid`.
            keypoints: B tensors (N_b, K, 2) in metres.

        Returns:
            (sum N_b, K, C) in float32 (boxes in batch order).
        """
        if feat.dim() != 4 or tuple(feat.shape[-2:]) != self.grid.shape:
            raise ValueError(f'BEV map {tuple(feat.shape)} is not on the grid {self.grid.shape} '
                             f'({self.grid})')
        if len(keypoints) != feat.shape[0]:
            raise ValueError(f'{len(keypoints)} key-point sets for a batch of {feat.shape[0]}')
        outs = []
        for b, pts in enumerate(keypoints):
            if pts.shape[0] == 0:
                continue
            n, k = pts.shape[:2]
            pts = pts.to(device=feat.device, dtype=torch.float32)
            gx, gy = self.grid.to_grid_sample(pts[..., 0], pts[..., 1])
            loc = torch.stack([gx, gy], -1).view(1, 1, n * k, 2)
            val = F.grid_sample(feat[b:b + 1].float(), loc, mode='bilinear', padding_mode='zeros',
                                align_corners=False)                    # (1, C, 1, n*k)
            outs.append(val[0, :, 0].t().reshape(n, k, -1))
        if not outs:
            return feat.new_zeros((0, keypoints[0].shape[1] if len(keypoints) else NUM_KEYPOINTS,
                                   feat.shape[1]), dtype=torch.float32)
        return torch.cat(outs, 0)
