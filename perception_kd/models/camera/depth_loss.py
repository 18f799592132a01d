"""Depth supervision from LiDAR (BEVDepth): targets per feature cell and the BCE loss.

Targets: the batch's LiDAR points (augmented LiDAR frame) are taken back to the original
frame with ``inverse(bda_mat)``, projected with ``lidar2img`` (image augmentation
included) into every camera, binned into the feature grid of stride s (cell j covers
u in [j*s - 0.5, (j+1)*s - 0.5)), and each cell keeps its nearest depth. That depth's bin
(``dbound``) is the one-hot target; cells without a point, or with a depth outside
``dbound``, are ignored.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import num_depth_bins, project_to_image


def depth_bin_targets(points: Sequence[Tensor], lidar2img: Tensor, bda: Tensor,
                      img_hw: tuple[int, int], feat_hw: tuple[int, int],
                      dbound: Sequence[float]) -> Tensor:
    """Per-cell depth-bin labels.

    Args:
        points: B tensors (N_b, >=3), xyz in the augmented LiDAR frame.
        lidar2img: (B, Ncam, 4, 4) original LiDAR -> augmented (u*d, v*d, d, 1).
        bda: (B, 4, 4) original -> augmented LiDAR.
        img_hw: (H, W) of the network input images; feat_hw: (h, w) of the depth map.
        dbound: (d_min, d_max, step).

    Returns:
        (B*Ncam, h, w) long: the bin of the nearest point, -1 where there is none.
    """
    (img_h, img_w), (feat_h, feat_w) = img_hw, feat_hw
    num_bins, num_cams = num_depth_bins(dbound), lidar2img.shape[1]
    labels = []
    for pts, proj, mat in zip(points, lidar2img, bda):
        uvd = project_to_image(pts.to(proj.device), proj, mat)  # (Ncam, N, 3)
        u, v, d = uvd.unbind(-1)
        inside = (d > 1e-3) & (u >= -0.5) & (u < img_w - 0.5) & (v >= -0.5) & (v < img_h - 0.5)
        col = ((u + 0.5) * (feat_w / img_w)).floor().long().clamp(0, feat_w - 1)
        row = ((v + 0.5) * (feat_h / img_h)).floor().long().clamp(0, feat_h - 1)
        cam = torch.arange(num_cams, device=d.device)[:, None].expand_as(d)
        flat = ((cam * feat_h + row) * feat_w + col)[inside]
        nearest = d.new_full((num_cams * feat_h * feat_w,), float('inf'))
        nearest.scatter_reduce_(0, flat, d[inside], reduce='amin')
        bins = ((nearest - dbound[0]) / dbound[2]).floor()
        valid = torch.isfinite(bins) & (bins >= 0) & (bins < num_bins)
        label = torch.where(valid, bins, torch.full_like(bins, -1)).long()
        labels.append(label.view(num_cams, feat_h, feat_w))
    return torch.cat(labels, 0)


def depth_bce_loss(depth_probs: Tensor, labels: Tensor, eps: float = 1e-6) -> Tensor:
    """BEVDepth's binary cross-entropy between predicted bin probabilities and one-hot
    targets, summed over bins and averaged over the cells with a target.

    depth_probs: (B*Ncam, D, h, w) probabilities; labels: (B*Ncam, h, w) long, -1 = ignore.
    """
    if depth_probs.shape[0] != labels.shape[0] or depth_probs.shape[2:] != labels.shape[1:]:
        raise ValueError(f'depth {tuple(depth_probs.shape)} and labels {tuple(labels.shape)} '
                         'must share (B*Ncam, h, w)')
    mask = labels >= 0
    if not mask.any():
        return depth_probs.sum() * 0.0
    with torch.autocast(device_type=depth_probs.device.type, enabled=False):
        pred = depth_probs.float().permute(0, 2, 3, 1)[mask].clamp(eps, 1.0 - eps)
        target = F.one_hot(labels[mask], depth_probs.shape[1]).float()
        return F.binary_cross_entropy(pred, target, reduction='sum') / mask.sum()
