"""Detection losses as plain functions (summed; callers normalise and weight them)."""
from __future__ import annotations

import torch
from torch import Tensor


def zero_loss_like(*tensors: Tensor) -> Tensor:
    """A float32 scalar zero still connected to the graph of ``tensors``, so that a batch
    without objects back-propagates (zero) through every output that made it, and DDP sees
    every parameter used. NaN/inf in the inputs give 0, not NaN."""
    parts = [torch.nan_to_num(t.float().sum() * 0.0) for t in tensors if isinstance(t, Tensor)]
    if not parts:
        raise ValueError('zero_loss_like needs at least one tensor')
    return sum(parts[1:], parts[0])


def gaussian_focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, gamma: float = 4.0,
                        eps: float = 1e-4) -> Tensor:
    """CenterNet's focal loss on Gaussian heatmaps, summed over all elements.

    Args:
        logits: (B, C, H, W) heatmap logits.
        target: (B, C, H, W) Gaussian targets in [0, 1]; cells equal to 1 are positives.
        alpha, gamma: focusing exponents of the prediction and of the negative weight
            ``(1 - target) ** gamma``.
        eps: sigmoid outputs are clamped to [eps, 1 - eps].

    Returns:
        The scalar sum ``-sum_pos (1-p)^a log p - sum_neg (1-t)^g p^a log(1-p)``; divide by
        the number of positives.
    """
    if logits.shape != target.shape:
        raise ValueError(f'heatmap logits {tuple(logits.shape)} and targets '
                         f'{tuple(target.shape)} differ in shape')
    pred = logits.float().sigmoid().clamp(eps, 1.0 - eps)
    target = target.float()
    pos = target.eq(1.0).float()
    neg_weight = (1.0 - target).pow(gamma) * (1.0 - pos)
    pos_loss = -pred.log() * (1.0 - pred).pow(alpha) * pos
    neg_loss = -(1.0 - pred).log() * pred.pow(alpha) * neg_weight
    return (pos_loss + neg_loss).sum()


def _finite_difference(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(pred - target, finite mask of target)`` in float32; non-finite targets read as 0
    so that they give no NaN gradient."""
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
    finite = torch.isfinite(target)
    return pred.float() - torch.where(finite, target, torch.zeros_like(target)).float(), finite


def weighted_l1_loss(pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Sum of ``weights * |pred - target|`` over elements where ``target`` is finite.

    pred, target: (N, K); weights: (K,) or (N, K). Non-finite targets (unknown velocity)
    contribute nothing (and no NaN gradient).
    """
    diff, finite = _finite_difference(pred, target)
    return (diff.abs() * weights * finite).sum()


def weighted_l2_loss(pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Sum of ``weights * (pred - target) ** 2 / 2`` over elements where ``target`` is
    finite (as :func:`weighted_l1_loss`)."""
    diff, finite = _finite_difference(pred, target)
    return (0.5 * diff.square() * weights * finite).sum()
