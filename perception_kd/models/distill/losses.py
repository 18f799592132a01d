"""UniDistill's three distillation losses (see ``docs/distillation.md``).

Every loss is called as ``loss(student, teacher, targets)`` where ``student`` and
``teacher`` are one feature level of :class:`~perception_kd.models.detectors.BEVFeatures`
(a BEV map, or the head's list of per-task response dicts) and ``targets`` is the
:class:`DistillTargets` of the batch (valid boxes, key points, response mask, box count).

Normalisation: N is the number of valid boxes of the batch; under DDP the losses divide
by the mean of N over the ranks, so that DDP's gradient averaging gives
``sum over all ranks' boxes / (N summed over ranks)`` exactly; eps = 1e-4.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mmengine.dist import all_reduce, is_distributed
from torch import Tensor, nn

from ...ops import draw_gaussians, heatmap_radius
from ...registry import MODELS
from ...structures import BEVGrid
from ..heads.center_targets import REG_CHANNELS
from ..losses import zero_loss_like
from .keypoints import KeypointSampler

EPS = 1e-4
# regression maps of a CenterHead task, in concatenation order (the head's list)
REG_KEYS = tuple(name for name, _ in REG_CHANNELS)


@dataclass
class DistillTargets:
    """What the losses need of one batch, computed once per step by :meth:`build`.

    boxes: per sample (N_b, >=7) valid boxes; keypoints: per sample (N_b, 9, 2) metres;
    num_boxes: N of this rank (float tensor); norm: the DDP-mean of N (see module doc);
    mask: (B, H, W) response mask (lazy; see :func:`response_mask`).
    """
    sampler: KeypointSampler
    boxes: list[Tensor]
    keypoints: list[Tensor]
    num_boxes: Tensor
    norm: Tensor
    mask_min_overlap: float = 0.7
    mask_min_radius: int = 0
    _mask: Tensor = None

    @classmethod
    def build(cls, sampler: KeypointSampler, data_samples: Sequence, device=None,
              **mask_cfg) -> DistillTargets:
        boxes = [b.to(device) for b in sampler.valid_boxes(data_samples)]
        num = torch.tensor(float(sum(len(b) for b in boxes)), device=device)
        norm = num.clone()
        if is_distributed():
            all_reduce(norm, op='mean')
        return cls(sampler, boxes, sampler.keypoints(boxes), num, norm, **mask_cfg)

    @property
    def grid(self) -> BEVGrid:
        return self.sampler.grid

    @property
    def mask(self) -> Tensor:
        if self._mask is None:
            self._mask = response_mask(self.boxes, self.grid, self.mask_min_overlap,
                                       self.mask_min_radius)
        return self._mask


def response_mask(boxes: Sequence[Tensor], grid: BEVGrid, min_overlap: float = 0.7,
                  min_radius: int = 0) -> Tensor:
    """(B, H, W) mask: a CenterNet Gaussian per box at its centre cell, merged by max.

    Radius ``r = max(min_radius, int(gaussian_radius((l / cell, w / cell), min_overlap)))``
    cells, kernel (2r+1)^2 with sigma = (2r+1)/6 and peak 1 (:func:`draw_gaussian`).
    """
    device = boxes[0].device if len(boxes) else None
    mask = torch.zeros((len(boxes), *grid.shape))
    for b, bx in enumerate(boxes):
        if len(bx) == 0:
            continue
        bx = bx.detach().float().cpu()
        rows, cols = grid.cell_index(bx[:, 0], bx[:, 1])
        radius = heatmap_radius(bx[:, 3] / grid.cell, bx[:, 4] / grid.cell, min_overlap,
                                min_radius)
        draw_gaussians(mask[b], cols, rows, radius)
    mask = mask.to(device) if device is not None else mask
    return mask


def _check_channels(name: str, student: Tensor, teacher: Tensor) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f'{name}: student map {tuple(student.shape)} and teacher map '
                         f'{tuple(teacher.shape)} differ; both must be on the same BEV grid, and '
                         'an adapter must map the student channels to the teacher\'s')


@MODELS.register_module()
class FeatureDistillLoss(nn.Module):
    """Low-level feature loss: L1 at the key points, mean over points and channels,
    summed over boxes / (N + eps)."""

    def forward(self, student: Tensor, teacher: Tensor, targets: DistillTargets) -> Tensor:
        _check_channels(type(self).__name__, student, teacher)
        if float(targets.num_boxes) == 0:
            return zero_loss_like(student)
        fs = targets.sampler.sample(student, targets.keypoints)         # (N, 9, C)
        ft = targets.sampler.sample(teacher.detach(), targets.keypoints)
        per_box = (fs - ft).abs().mean(dim=(1, 2))
        return per_box.sum() / (targets.norm + EPS)


def relation_matrix(feats: Tensor, eps: float = EPS) -> Tensor:
    """(N, K, C) key-point features -> (N, K, K) cosine similarities (norm + eps)."""
    unit = feats / (feats.norm(dim=-1, keepdim=True) + eps)
    return unit @ unit.transpose(1, 2)


@MODELS.register_module()
class RelationDistillLoss(nn.Module):
    """High-level relation loss: per box the 9x9 cosine-similarity matrices of teacher and
    student key-point features, mean |R_S - R_T| over the 81 entries, summed / (N + eps)."""

    def forward(self, student: Tensor, teacher: Tensor, targets: DistillTargets) -> Tensor:
        if student.shape[-2:] != teacher.shape[-2:] or student.shape[0] != teacher.shape[0]:
            _check_channels(type(self).__name__, student, teacher)
        if float(targets.num_boxes) == 0:
            return zero_loss_like(student)
        rs = relation_matrix(targets.sampler.sample(student, targets.keypoints))
        rt = relation_matrix(targets.sampler.sample(teacher.detach(), targets.keypoints))
        per_box = (rs - rt).abs().mean(dim=(1, 2))
        return per_box.sum() / (targets.norm + EPS)


def _cat_responses(responses: Sequence[dict[str, Tensor]], keys: Sequence[str]) -> Tensor:
    return torch.cat([task[key] for task in responses for key in keys if key in task], 1)


@MODELS.register_module()
class ResponseDistillLoss(nn.Module):
    """Response loss on the Gaussian mask M of the boxes' centres.

    Class: teacher ``sigmoid(logit / T)``, student ``sigmoid(logit)`` clamped to
    [1e-4, 1 - 1e-4], each maxed over all classes of all tasks to one map;
    ``L_cls = sum M |S - T| / (sum M + eps)``. Regression: the regression maps of every
    task concatenated; ``L_reg = sum M mean_ch |S - T| / (sum M + eps)``. Returns
    ``L_cls + L_reg``.

    Args:
        temperature: T of the teacher (2 as published).
        reg_keys: regression maps compared (default all of CenterHead's).
    """

    def __init__(self, temperature: float = 2.0, reg_keys: Sequence[str] = REG_KEYS):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.reg_keys = tuple(reg_keys)

    def forward(self, student: Sequence[dict[str, Tensor]], teacher: Sequence[dict[str, Tensor]],
                targets: DistillTargets) -> Tensor:
        if len(student) != len(teacher):
            raise ValueError(
                f'{type(self).__name__}: student head has {len(student)} task groups, '
                f'the teacher {len(teacher)}; response distillation needs the same tasks'
            )
        s_cls = _cat_responses(student, ('heatmap',)).float()
        t_cls = _cat_responses(teacher, ('heatmap',)).detach().float()
        _check_channels(f'{type(self).__name__} (heatmaps)', s_cls, t_cls)
        keys = [k for k in self.reg_keys if k in student[0] and k in teacher[0]]
        s_reg = _cat_responses(student, keys).float()
        t_reg = _cat_responses(teacher, keys).detach().float()
        _check_channels(f'{type(self).__name__} (regression maps)', s_reg, t_reg)
        mask = targets.mask.to(s_cls.device)
        if mask.shape != (s_cls.shape[0], *s_cls.shape[-2:]):
            raise ValueError(f'response mask {tuple(mask.shape)} does not fit the head maps '
                             f'{tuple(s_cls.shape)}: the head must be on the distiller\'s BEV grid')
        s_score = s_cls.sigmoid().clamp(1e-4, 1 - 1e-4).amax(1)
        t_score = (t_cls / self.temperature).sigmoid().amax(1)
        denom = mask.sum() + EPS
        loss_cls = (mask * (s_score - t_score).abs()).sum() / denom
        loss_reg = (mask * (s_reg - t_reg).abs().mean(1)).sum() / denom
        return loss_cls + loss_reg
