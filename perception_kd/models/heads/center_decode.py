"""CenterPoint decoding: heatmap peaks -> boxes, score/range filter, per-task NMS, and the
mapping of boxes back through the BEV augmentation (``bda_mat``).

Decoding inverts :mod:`.center_targets`: at a top-k cell (row, col) with class c,
``(u, v) = (col + reg_u, row + reg_v)`` -> ``(x, y) = grid.cells_to_metres(u, v)``,
``z = height``, ``(l, w, h) = exp(dim)``, ``yaw = atan2(sin, cos)``, ``(vx, vy) = vel``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ...ops import circle_nms, nms_bev
from ...structures import BEVGrid


@dataclass
class CenterTestConfig:
    """Test-time settings of :class:`CenterHead` (``test_cfg`` keys).

    score_threshold: drop boxes scored below. max_num: top-k peaks per task and sample
    before filtering. post_center_range: (x0, y0, z0, x1, y1, z1) metres, boxes whose
    centre is outside are dropped (None: keep all). nms_type: 'rotate' (rotated BEV IoU),
    'circle' (centre distance) or None. nms_thr: IoU threshold of 'rotate'. pre_max /
    post_max: boxes considered / kept by the NMS per task. nms_radius: per task, the
    centre distance in metres of 'circle' (CenterPoint's ``min_radius`` values are squared
    distances: pass their square roots). max_per_sample: final cap over all tasks.
    nms_per_class: run the NMS of a task group per class (a box suppresses only boxes of
    its own class), so that where two classes of one group both fire on an object (e.g. a
    bicycle scored also as a motorcycle) both boxes are kept, each for its class's AP;
    False (CenterPoint's default): one class-agnostic NMS per task group.
    """
    score_threshold: float = 0.1
    max_num: int = 500
    post_center_range: Sequence[float] | None = None
    nms_type: str | None = 'rotate'
    nms_thr: float = 0.2
    pre_max: int = 1000
    post_max: int = 83
    nms_radius: Sequence[float] | None = None
    max_per_sample: int = 500
    nms_per_class: bool = False

    def __post_init__(self):
        if self.nms_type not in ('rotate', 'circle', None):
            raise ValueError(f"test_cfg.nms_type must be 'rotate', 'circle' or None, got "
                             f'{self.nms_type!r}')
        if self.post_center_range is not None and len(self.post_center_range) != 6:
            raise ValueError('test_cfg.post_center_range must be (x0, y0, z0, x1, y1, z1), got '
                             f'{self.post_center_range}')


def decode_task(response: dict[str, Tensor], grid: BEVGrid,
                max_num: int) -> tuple[Tensor, Tensor, Tensor]:
    """Top-k peaks of one task's response maps -> boxes.

    Args:
        response: ``heatmap`` (B, n_cls, H, W) logits, ``reg`` (B, 2, H, W), ``height``
            (B, 1, H, W), ``dim`` (B, 3, H, W) log sizes, ``rot`` (B, 2, H, W) (sin, cos),
            optional ``vel`` (B, 2, H, W).
        grid: the BEV grid of the maps.
        max_num: peaks kept per sample.

    Returns:
        boxes (B, K, 9) in the frame of the maps (velocity 0 without ``vel``), scores (B, K)
        sigmoid scores, labels (B, K) class indices within the task.
    """
    heat = response['heatmap'].float().sigmoid()
    batch, num_cls, height, width = heat.shape
    if (height, width) != grid.shape:
        raise ValueError(f'response maps are {height}x{width}, the head grid is {grid.shape}')
    k = min(int(max_num), num_cls * height * width)
    scores, index = heat.flatten(1).topk(k, dim=1)                     # (B, K)
    labels = torch.div(index, height * width, rounding_mode='floor')
    pixel = index % (height * width)
    rows = torch.div(pixel, width, rounding_mode='floor').float()
    cols = (pixel % width).float()

    def gather(name: str) -> Tensor:                                   # (B, K, C)
        maps = response[name].float().flatten(2)
        return maps.gather(2, pixel[:, None, :].expand(-1, maps.shape[1], -1)).transpose(1, 2)

    reg = gather('reg')
    x, y = grid.cells_to_metres(cols + reg[..., 0], rows + reg[..., 1])
    dims = gather('dim').clamp(-5.0, 5.0).exp()
    rot = gather('rot')
    yaw = torch.atan2(rot[..., 0], rot[..., 1])
    vel = gather('vel') if 'vel' in response else scores.new_zeros((batch, k, 2))
    boxes = torch.cat([x[..., None], y[..., None], gather('height'), dims, yaw[..., None], vel], -1)
    return boxes, scores, labels


def select_boxes(boxes: Tensor, scores: Tensor, cfg: CenterTestConfig, task: int,
                 labels: Tensor | None = None) -> Tensor:
    """Score/range filter then NMS of one task and sample; returns kept indices (by score).
    ``labels`` (class indices within the task) are needed with ``cfg.nms_per_class``."""
    if cfg.nms_per_class and cfg.nms_type is not None:
        if labels is None:
            raise ValueError('test_cfg.nms_per_class needs the class labels of the boxes')
        single = dataclasses.replace(cfg, nms_per_class=False)
        kept = []
        for c in torch.unique(labels).tolist():
            cls_idx = (labels == c).nonzero().squeeze(1)
            kept.append(cls_idx[select_boxes(boxes[cls_idx], scores[cls_idx], single, task)])
        if not kept:
            return labels.new_zeros(0)
        kept = torch.cat(kept)
        return kept[torch.argsort(scores[kept], descending=True)][:cfg.post_max]
    keep = scores >= cfg.score_threshold
    if cfg.post_center_range is not None:
        lo = boxes.new_tensor(cfg.post_center_range[:3])
        hi = boxes.new_tensor(cfg.post_center_range[3:])
        keep &= ((boxes[:, :3] >= lo) & (boxes[:, :3] <= hi)).all(1)
    keep &= torch.isfinite(boxes).all(1)
    idx = keep.nonzero().squeeze(1)
    if len(idx) == 0 or cfg.nms_type is None:
        return idx[torch.argsort(scores[idx], descending=True)][:cfg.post_max]
    if cfg.nms_type == 'rotate':
        kept = nms_bev(boxes[idx], scores[idx], cfg.nms_thr, pre_max=cfg.pre_max,
                       post_max=cfg.post_max)
    else:
        if cfg.nms_radius is None or task >= len(cfg.nms_radius):
            raise ValueError("test_cfg.nms_type='circle' needs nms_radius with one value per task")
        kept = circle_nms(boxes[idx, :2], scores[idx], float(cfg.nms_radius[task]),
                          post_max=cfg.post_max)
    return idx[kept]


def transform_boxes(boxes: Tensor, mat) -> Tensor:
    """Boxes (N, 9) through a 4x4 similarity transform about z (rotation, uniform scale,
    flips, shift; e.g. ``inv(bda_mat)``): centres moved, sizes scaled, yaw following the
    transformed length axis (wrapped to [-pi, pi)), velocity through the linear part."""
    mat = torch.as_tensor(np.asarray(mat, dtype=np.float64), device=boxes.device)
    linear = mat[:3, :3]
    scale = torch.linalg.det(linear).abs().pow(1.0 / 3.0)
    work = boxes.double()
    out = work.clone()
    out[:, :3] = work[:, :3] @ linear.T + mat[:3, 3]
    out[:, 3:6] = work[:, 3:6] * scale
    heading = torch.stack([work[:, 6].cos(), work[:, 6].sin()], 1) @ linear[:2, :2].T
    yaw = torch.atan2(heading[:, 1], heading[:, 0])
    out[:, 6] = yaw - torch.floor(yaw / (2 * np.pi) + 0.5) * 2 * np.pi
    if boxes.shape[1] >= 9:
        out[:, 7:9] = work[:, 7:9] @ linear[:2, :2].T
    return out.to(boxes.dtype)


def undo_bda(boxes: Tensor, metainfo) -> Tensor:
    """Boxes (N, 9) predicted in a sample's BEV-augmented frame -> its original LiDAR frame
    (``inv(metainfo['bda_mat'])``); unchanged without a ``bda_mat``, or with an identity one."""
    bda = metainfo.get('bda_mat')
    if bda is None or not len(boxes):
        return boxes
    bda = torch.as_tensor(bda, dtype=torch.float64)
    if torch.allclose(bda, torch.eye(4, dtype=torch.float64)):
        return boxes
    return transform_boxes(boxes, torch.linalg.inv(bda).numpy())
