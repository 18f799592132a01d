"""``CenterHead``: CenterPoint's dense head on a BEV grid, with nuScenes task groups.

``forward(bev_high (B, C, H, W)) -> responses``: one dict per task group with ``heatmap``
(B, n_cls, H, W) logits and regression maps ``reg`` (2: sub-cell offset of the centre
along columns/+x and rows/+y), ``height`` (1: centre z, metres), ``dim`` (3: log l, w, h),
``rot`` (2: sin, cos of yaw) and ``vel`` (2: vx, vy m/s), all in the LiDAR frame of the
input (the augmented frame in training). See :mod:`.center_targets` for the targets and
:mod:`.center_decode` for decoding.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ...registry import MODELS
from ...structures import BEVGrid
from ..losses import gaussian_focal_loss, weighted_l1_loss, weighted_l2_loss, zero_loss_like
from .center_decode import CenterTestConfig, decode_task, select_boxes, undo_bda
from .center_targets import REG_CHANNELS, build_center_targets

# CenterPoint's nuScenes task groups (class names; labels come from ``class_names``).
NUSCENES_TASKS = (('car',), ('truck', 'construction_vehicle'), ('bus', 'trailer'), ('barrier',),
                  ('motorcycle', 'bicycle'), ('pedestrian', 'traffic_cone'))


def scale_grad(x: Tensor, scale: float) -> Tensor:
    """``x`` in the forward pass; its gradient multiplied by ``scale`` in the backward."""
    if scale == 1.0:
        return x
    return x * scale + x.detach() * (1.0 - scale)


class SeparateHead(nn.Module):
    """One task group's branches: per output, ``num_convs - 1`` conv-BN-ReLU then a conv.

    ``forward((B, C, H, W)) -> {name: (B, channels[name], H, W)}``; the ``heatmap``
    branch's last bias starts at ``init_bias`` (sigmoid(-2.19) ~ 0.1). ``kernels`` gives
    some branches another kernel size than ``final_kernel``; ``grad_scales`` scales the
    gradient that a branch sends back into the shared input (forward unchanged);
    ``side_channels`` gives some branches an extra input, concatenated to the shared one
    (``forward(x, side)``; e.g. the ``vel`` branch reading the sweep occupancy map);
    ``dilations`` dilates some branches' convs.
    """

    def __init__(self, in_channels: int, channels: dict[str, int], head_channels: int = 64,
                 num_convs: int = 2, final_kernel: int = 3, init_bias: float = -2.19,
                 kernels: dict[str, int] | None = None,
                 grad_scales: dict[str, float] | None = None,
                 side_channels: dict[str, int] | None = None,
                 dilations: dict[str, int] | None = None):
        super().__init__()
        self.branches = nn.ModuleDict()
        self.grad_scales = {k: float(v) for k, v in (grad_scales or {}).items()}
        self.side_channels = {k: int(v) for k, v in (side_channels or {}).items() if v}
        for name, out in channels.items():
            layers, cin = [], in_channels + self.side_channels.get(name, 0)
            kernel = (kernels or {}).get(name, final_kernel)
            dilation = (dilations or {}).get(name, 1)
            pad = dilation * (kernel // 2)
            for _ in range(num_convs - 1):
                layers += [nn.Conv2d(cin, head_channels, kernel, padding=pad, dilation=dilation,
                                     bias=False),
                           nn.BatchNorm2d(head_channels, eps=1e-3, momentum=0.01),
                           nn.ReLU(inplace=True)]
                cin = head_channels
            layers.append(nn.Conv2d(cin, out, kernel, padding=pad, dilation=dilation))
            if name == 'heatmap':
                nn.init.constant_(layers[-1].bias, init_bias)
            self.branches[name] = nn.Sequential(*layers)

    def forward(self, x: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        out = {}
        for name, branch in self.branches.items():
            inp = scale_grad(x, self.grad_scales.get(name, 1.0))
            if name in self.side_channels:
                inp = torch.cat([inp, side], 1)
            out[name] = branch(inp)
        return out


@MODELS.register_module()
class CenterHead(BaseModule):
    """CenterPoint head: shared conv, one :class:`SeparateHead` per task group.

    Args:
        in_channels: channels of ``bev_high``.
        point_cloud_range, bev_cell: the BEV grid of ``bev_high``
            (``BEVGrid.from_range(point_cloud_range, bev_cell)``).
        class_names: the dataset's classes; ``labels_3d`` index them (mmdet3d order).
        tasks: class names per task group (default :data:`NUSCENES_TASKS`); also accepts
            mmdet3d-style ``dict(num_class=..., class_names=[...])`` entries.
        share_channels, head_channels, num_head_convs, final_kernel, init_bias: layers.
        with_velocity: add the ``vel`` branch (boxes keep 9 columns either way).
        gaussian_overlap, min_radius: heatmap target radius (see :mod:`.center_targets`).
        code_weights: L1 weight of each regression channel (du, dv, z, log l, log w,
            log h, sin, cos[, vx, vy]).
        loss_heatmap_weight, loss_bbox_weight: weights of the two summed losses.
        velocity_loss: ``'l1'`` (CenterPoint's, the default) or ``'l2'`` (half the squared
            error) on the (vx, vy) channels. L1 pulls a prediction to the conditional median,
            which stays at 0 while the features tell moving from static objects only weakly;
            L2 pulls to the conditional mean, and mAVE is an L2 error.
        velocity_kernel: kernel size of the ``vel`` branch's convs (default
            ``final_kernel``); 3 lets it read the trail around the centre cell.
        velocity_dilation: dilation of the ``vel`` branch's convs (default 1): with
            ``velocity_kernel=3`` and dilation 3, two convs reach +-6 cells, so the centre
            of a bus or truck sees the trail at its ends.
        velocity_grad_scale: multiplies the gradient that the ``vel`` branch sends into the
            shared features (1: plain training; < 1 keeps a strong velocity loss from
            pulling the features shared with detection while the branch learns at full rate).
        velocity_side_channels: if > 0, the ``side_branches`` also read a side map of that
            many channels, concatenated to the shared features: ``forward(x, motion_bev=M)``
            with ``M`` (B, C_side, H, W) on the head's grid, e.g. the sweep occupancy
            features of :class:`SweepOccupancyBEV` (``LidarBEVEncoder(motion_side=True)``):
            a motion path to the velocity that does not go through the detection trunk.
        side_branches: the branches that read that side map (default ``('vel',)``;
            ``('vel', 'rot')``: the heading too, which for a moving car is the direction
            of its trail).
        test_cfg: :class:`CenterTestConfig` keys.
    """

    def __init__(self,
                 in_channels: int,
                 point_cloud_range: Sequence[float],
                 bev_cell: float,
                 class_names: Sequence[str],
                 tasks: Sequence[Sequence[str] | dict] = NUSCENES_TASKS,
                 share_channels: int = 64,
                 head_channels: int = 64,
                 num_head_convs: int = 2,
                 final_kernel: int = 3,
                 init_bias: float = -2.19,
                 with_velocity: bool = True,
                 gaussian_overlap: float = 0.1,
                 min_radius: int = 2,
                 code_weights: Sequence[float] | None = None,
                 loss_heatmap_weight: float = 1.0,
                 loss_bbox_weight: float = 0.25,
                 velocity_loss: str = 'l1',
                 velocity_kernel: int | None = None,
                 velocity_grad_scale: float = 1.0,
                 velocity_side_channels: int = 0,
                 velocity_dilation: int = 1,
                 side_branches: Sequence[str] = ('vel',),
                 test_cfg: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.grid = BEVGrid.from_range(point_cloud_range, bev_cell)
        self.class_names = tuple(class_names)
        self.task_names = [tuple(t['class_names'] if isinstance(t, dict) else t) for t in tasks]
        unknown = [n for t in self.task_names for n in t if n not in self.class_names]
        if unknown:
            raise ValueError(f'task classes {unknown} are not in class_names {self.class_names}')
        self.task_labels = [[self.class_names.index(n) for n in t] for t in self.task_names]
        self.with_velocity = with_velocity
        self.reg_channels = [(n, c) for n, c in REG_CHANNELS if with_velocity or n != 'vel']
        num_reg = sum(c for _, c in self.reg_channels)
        if code_weights is None:
            code_weights = [1.0] * 8 + [0.2, 0.2]
        code_weights = list(code_weights)[:num_reg] if not with_velocity else list(code_weights)
        if len(code_weights) != num_reg:
            raise ValueError(f'code_weights needs {num_reg} values (du, dv, z, log l, log w, '
                             f'log h, sin, cos[, vx, vy]), got {len(code_weights)}')
        self.register_buffer('code_weights', torch.tensor(code_weights, dtype=torch.float32),
                             persistent=False)
        self.gaussian_overlap = float(gaussian_overlap)
        self.min_radius = int(min_radius)
        self.loss_heatmap_weight = float(loss_heatmap_weight)
        self.loss_bbox_weight = float(loss_bbox_weight)
        if velocity_loss not in ('l1', 'l2'):
            raise ValueError(f"velocity_loss must be 'l1' or 'l2', got {velocity_loss!r}")
        self.velocity_loss = velocity_loss
        self.test_cfg = CenterTestConfig(**(test_cfg or {}))
        self.in_channels = int(in_channels)

        self.shared_conv = nn.Sequential(
            nn.Conv2d(in_channels, share_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(share_channels, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True))
        if not 0.0 <= velocity_grad_scale <= 1.0:
            raise ValueError(f'velocity_grad_scale must be in [0, 1], got {velocity_grad_scale}')
        kernels = {} if velocity_kernel is None else {'vel': int(velocity_kernel)}
        if velocity_kernel is not None and (velocity_kernel < 1 or velocity_kernel % 2 == 0):
            raise ValueError(f'velocity_kernel must be odd and >= 1, got {velocity_kernel}')
        if velocity_side_channels < 0 or (velocity_side_channels and not with_velocity):
            raise ValueError(f'velocity_side_channels={velocity_side_channels} needs '
                             'with_velocity=True and a value >= 0')
        self.velocity_side_channels = int(velocity_side_channels)
        branch_names = [n for n, _ in self.reg_channels]
        unknown = [b for b in side_branches if b not in branch_names]
        if unknown and self.velocity_side_channels:
            raise ValueError(f'side_branches {unknown} are not regression branches '
                             f'({branch_names})')
        self.side_branches = tuple(side_branches) if self.velocity_side_channels else ()
        if velocity_dilation < 1:
            raise ValueError(f'velocity_dilation must be >= 1, got {velocity_dilation}')
        self.task_heads = nn.ModuleList(
            SeparateHead(share_channels, dict(heatmap=len(names), **dict(self.reg_channels)),
                         head_channels, num_head_convs, final_kernel, init_bias,
                         kernels=kernels, grad_scales={'vel': velocity_grad_scale},
                         side_channels={b: self.velocity_side_channels
                                        for b in self.side_branches},
                         dilations={'vel': int(velocity_dilation)})
            for names in self.task_names)

    def forward(self, x: Tensor | Sequence[Tensor],
                motion_bev: Tensor | None = None) -> list[dict[str, Tensor]]:
        """bev_high (B, C, H, W) on the head's grid -> one response dict per task group.

        ``motion_bev``: the side map of the ``side_branches`` (``velocity_side_channels``);
        required when that is > 0, ignored otherwise.
        """
        if isinstance(x, (list, tuple)):
            x = x[0]
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.grid.shape:
            raise ValueError(f'CenterHead expects (B, {self.in_channels}, {self.grid.shape[0]}, '
                             f'{self.grid.shape[1]}) on its grid {self.grid}, got {tuple(x.shape)}')
        side = None
        if self.velocity_side_channels:
            expect = (x.shape[0], self.velocity_side_channels, *self.grid.shape)
            if motion_bev is None:
                raise ValueError(
                    f'CenterHead(velocity_side_channels={self.velocity_side_channels}) needs the '
                    'motion map: configure the LiDAR encoder with a motion_encoder and '
                    'motion_side=True, or set model.head.velocity_side_channels=0')
            if tuple(motion_bev.shape) != expect:
                raise ValueError(f'CenterHead: motion_bev must be {expect} (velocity_side_'
                                 f'channels on the head grid), got {tuple(motion_bev.shape)}')
            side = motion_bev
        x = self.shared_conv(x)
        return [head(x, side) for head in self.task_heads]

    def loss(self, responses: list[dict[str, Tensor]], data_samples: Sequence) -> dict[str, Tensor]:
        """``loss_heatmap`` (Gaussian focal loss / number of peaks, summed over tasks) and
        ``loss_bbox`` (weighted L1 at object centres / number of objects, summed)."""
        device = responses[0]['heatmap'].device
        targets = build_center_targets(data_samples, self.grid, self.task_labels,
                                       self.gaussian_overlap, self.min_radius,
                                       self.with_velocity, device)
        loss_heatmap = loss_bbox = responses[0]['heatmap'].new_zeros(())
        for response, target in zip(responses, targets):
            num_pos = max(float(target.heatmap.eq(1).sum()), 1.0)
            loss_heatmap = loss_heatmap + gaussian_focal_loss(response['heatmap'],
                                                              target.heatmap) / num_pos
            pred = torch.cat([response[name] for name, _ in self.reg_channels], 1)
            picked = pred[target.batch, :, target.rows, target.cols]        # (N, 8|10)
            if self.with_velocity and self.velocity_loss == 'l2':
                loss = weighted_l1_loss(picked[:, :-2], target.reg[:, :-2],
                                        self.code_weights[:-2])
                loss = loss + weighted_l2_loss(picked[:, -2:], target.reg[:, -2:],
                                               self.code_weights[-2:])
            else:
                loss = weighted_l1_loss(picked, target.reg, self.code_weights)
            # keep the regression maps in the graph when the task has no object
            loss_bbox = loss_bbox + loss / (target.num_objects + 1e-4) + zero_loss_like(pred)
        return dict(loss_heatmap=self.loss_heatmap_weight * loss_heatmap,
                    loss_bbox=self.loss_bbox_weight * loss_bbox)

    @torch.no_grad()
    def predict(self, responses: list[dict[str, Tensor]],
                data_samples: Sequence | None = None) -> list[InstanceData]:
        """Boxes per sample: ``bboxes_3d`` (M, 9), ``scores_3d`` (M,), ``labels_3d`` (M,)
        (dataset labels), in the LiDAR frame before BEV augmentation (``inv(bda_mat)``)."""
        cfg = self.test_cfg
        per_task = [decode_task(r, self.grid, cfg.max_num) for r in responses]
        batch_size = responses[0]['heatmap'].shape[0]
        results = []
        for b in range(batch_size):
            boxes, scores, labels = [], [], []
            for t, (t_boxes, t_scores, t_labels) in enumerate(per_task):
                keep = select_boxes(t_boxes[b], t_scores[b], cfg, t, t_labels[b])
                label_map = t_boxes.new_tensor(self.task_labels[t], dtype=torch.long)
                boxes.append(t_boxes[b, keep])
                scores.append(t_scores[b, keep])
                labels.append(label_map[t_labels[b, keep]])
            boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
            order = torch.argsort(scores, descending=True)[:cfg.max_per_sample]
            boxes, scores, labels = boxes[order], scores[order], labels[order]
            if data_samples is not None:
                boxes = undo_bda(boxes, data_samples[b].metainfo)
            results.append(InstanceData(bboxes_3d=boxes, scores_3d=scores, labels_3d=labels))
        return results
