"""CenterPoint training targets on a :class:`BEVGrid`: Gaussian heatmaps + centre regression.

For a box ``(x, y, z, l, w, h, yaw, vx, vy)`` (LiDAR frame, geometric centre) its
continuous cell position is ``(u, v) = grid.metres_to_cells(x, y)`` and its centre cell
``(row, col) = (floor(v), floor(u))``. The heatmap of its class gets a Gaussian peak of
value 1 at that cell, of radius ``max(min_radius, int(gaussian_radius((w, l) in cells,
gaussian_overlap)))``; the regression target read at that cell is

    (u - col, v - row, z, log l, log w, log h, sin yaw, cos yaw[, vx, vy])

Boxes whose centre cell lies outside the grid, or with a non-positive l or w, are skipped.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ...ops import draw_gaussians, heatmap_radius
from ...structures import BEVGrid

REG_CHANNELS = (('reg', 2), ('height', 1), ('dim', 3), ('rot', 2), ('vel', 2))


@dataclass
class TaskTargets:
    """Targets of one task group for a batch.

    heatmap: (B, n_cls, H, W) Gaussian targets. For the N objects of the task in the batch:
    batch, rows, cols (N,) long: sample index and centre cell; labels (N,) long: class
    index within the task; reg (N, 8|10): the regression target (nan where unknown, e.g.
    velocity of 7-column boxes).
    """
    heatmap: Tensor
    batch: Tensor
    rows: Tensor
    cols: Tensor
    labels: Tensor
    reg: Tensor

    @property
    def num_objects(self) -> int:
        return len(self.batch)


def box_regression_targets(boxes: Tensor, grid: BEVGrid, with_velocity: bool = True):
    """Boxes (N, 7|9) -> (rows (N,), cols (N,), reg (N, 8|10)); see the module doc."""
    u, v = grid.metres_to_cells(boxes[:, 0], boxes[:, 1])
    cols, rows = u.floor(), v.floor()
    dims = boxes[:, 3:6].clamp(min=1e-6).log()
    reg = torch.stack([u - cols, v - rows, boxes[:, 2], dims[:, 0], dims[:, 1], dims[:, 2],
                       boxes[:, 6].sin(), boxes[:, 6].cos()], 1)
    if with_velocity:
        vel = (
            boxes[:, 7:9] if boxes.shape[1] >= 9 else boxes.new_full((len(boxes), 2), float('nan'))
        )
        reg = torch.cat([reg, vel], 1)
    return rows.long(), cols.long(), reg


def build_center_targets(data_samples: Sequence, grid: BEVGrid,
                         task_labels: Sequence[Sequence[int]], gaussian_overlap: float = 0.1,
                         min_radius: int = 2, with_velocity: bool = True,
                         device=None) -> list[TaskTargets]:
    """Targets of every task group for a batch.

    Args:
        data_samples: B samples with ``gt_instances_3d.bboxes_3d`` (N, 7|9) in the (augmented)
            LiDAR frame and ``labels_3d`` (N,) indexing the dataset classes.
        grid: the BEV grid of the head's input.
        task_labels: per task, the dataset labels of its classes (task-local order).
        gaussian_overlap, min_radius: heatmap radius rule (see the module doc).
        with_velocity: regression targets with (vx, vy).
        device: where the targets go (default: the boxes').
    """
    height, width = grid.shape
    batch_size, num_tasks = len(data_samples), len(task_labels)
    heatmaps = [torch.zeros((batch_size, len(labels), height, width), device=device)
                for labels in task_labels]
    per_task = [[] for _ in range(num_tasks)]
    for b, sample in enumerate(data_samples):
        if 'gt_instances_3d' not in sample:
            raise KeyError(
                f'sample {sample.metainfo.get("token", b)!r} has no gt_instances_3d; '
                "training needs 'gt_bboxes_3d' and 'gt_labels_3d' packed by the pipeline"
            )
        gt = sample.gt_instances_3d
        boxes = gt.bboxes_3d.to(device=device, dtype=torch.float32)
        labels = gt.labels_3d.to(device=device)
        if boxes.dim() != 2 or boxes.shape[1] < 7 or len(boxes) != len(labels):
            raise ValueError(f'gt boxes must be (N, 7|9) with N labels, got {tuple(boxes.shape)} '
                             f'and {tuple(labels.shape)}')
        rows, cols, reg = box_regression_targets(boxes, grid, with_velocity)
        size_ok = (boxes[:, 3] > 0) & (boxes[:, 4] > 0)
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width) & size_ok
        radius = heatmap_radius(boxes[:, 4] / grid.cell, boxes[:, 3] / grid.cell,
                                gaussian_overlap, min_radius)
        for t, task in enumerate(task_labels):
            task = torch.as_tensor(task, device=labels.device)
            match = labels[:, None] == task[None, :]                      # (N, n_cls)
            keep = (match.any(1) & inside).nonzero().squeeze(1)
            local = match[keep].float().argmax(1)
            draw_gaussians(heatmaps[t][b], cols[keep], rows[keep], radius[keep], local)
            per_task[t].append((torch.full_like(keep, b), rows[keep], cols[keep], local.long(),
                                reg[keep]))
    targets = []
    for t in range(num_tasks):
        parts = list(zip(*per_task[t]))
        batch, rows, cols, labels, reg = (torch.cat(p) for p in parts)
        targets.append(TaskTargets(heatmaps[t], batch, rows, cols, labels, reg))
    return targets
