"""``VoxelSegmentor``: sparse U-Net backbone + per-voxel head for LiDAR semantic segmentation.

Data flow: ``SegDataPreprocessor`` voxels (M, C) -> ``backbone`` (e.g. :class:`MinkUNet`)
(M, F) -> ``head`` (M, num_classes) voxel logits -> gathered per point with ``point2voxel``
(N, num_classes). The loss is cross-entropy **per point** (each point weighs once, so
dense voxels count more, as the metric does), ``ignore_index`` skipped; predictions are
the per-point argmax, written to ``data_samples[i].pred_pts_seg.pts_semantic_mask``.

Downstream protocols of LiMA (``docs/lidarseg.md``):
- ``init_backbone=dict(checkpoint=PATH, prefix='backbone_3d.')`` loads a pretrained
  backbone from the keys under ``prefix`` (a ``lima_pretrain`` checkpoint by default);
  any missing/unexpected key or shape is an error that names them.
- ``freeze_backbone=True`` (linear probing): the backbone stays in eval mode (BatchNorm
  statistics frozen), runs under no_grad and its parameters have ``requires_grad=False``
  (mmengine's optimizer skips them).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from ..registry import MODELS
from ..structures import Det3DDataSample, PointData
from ..utils.checkpoint import (
    CheckpointMismatchError,
    checkpoint_file,
    checkpoint_state_dict,
    compare_state_dicts,
    load_checkpoint_file,
)


@MODELS.register_module()
class SegHead(nn.Module):
    """Per-voxel classifier: Linear, or an MLP (Linear-BN-ReLU per ``hidden_channels``).

    ``forward((M, in_channels)) -> (M, num_classes)`` logits.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Sequence[int] = (), dropout: float = 0.0):
        super().__init__()
        layers, channels = [], in_channels
        for width in hidden_channels:
            layers += [nn.Linear(channels, width, bias=False), nn.BatchNorm1d(width),
                       nn.ReLU(inplace=True)]
            channels = width
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(channels, num_classes))
        self.layers = nn.Sequential(*layers)
        self.num_classes = int(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


@MODELS.register_module()
class VoxelSegmentor(BaseModel):
    """LiDAR semantic segmentation on voxels (see the module doc).

    Args:
        backbone: per-voxel feature network cfg with ``out_channels`` (e.g. ``MinkUNet``).
        head: cfg of the classifier; ``in_channels`` defaults to ``backbone.out_channels``.
        num_classes: classes of the head (16 for nuScenes lidarseg).
        ignore_index: label without loss (16: noise and unmapped classes).
        loss_weight: weight of ``loss_sem_seg``.
        class_weight: optional (num_classes,) cross-entropy class weights.
        freeze_backbone: linear probing (see the module doc).
        init_backbone: ``dict(checkpoint=PATH, prefix='backbone_3d.')``; None, or a None
            ``checkpoint``, keeps the random initialisation.
        data_preprocessor: e.g. ``dict(type='SegDataPreprocessor', voxel_size=..., ...)``.
    """

    def __init__(self, backbone: dict, num_classes: int = 16, head: dict | None = None,
                 ignore_index: int = 16, loss_weight: float = 1.0,
                 class_weight: Sequence[float] | None = None, freeze_backbone: bool = False,
                 init_backbone: dict | None = None, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        head = dict(head or dict(type='SegHead'))
        head.setdefault('in_channels', self.backbone.out_channels)
        head.setdefault('num_classes', num_classes)
        self.head = MODELS.build(head)
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.loss_weight = float(loss_weight)
        self.register_buffer('class_weight', None if class_weight is None else
                             torch.tensor(class_weight, dtype=torch.float32), persistent=False)
        if init_backbone and init_backbone.get('checkpoint'):
            self.load_backbone(**init_backbone)
        self.freeze_backbone = bool(freeze_backbone)
        if self.freeze_backbone:
            self.backbone.eval()
            for param in self.backbone.parameters():
                param.requires_grad_(False)

    # ------------------------------------------------------------------ checkpoints
    def load_backbone(self, checkpoint: str, prefix: str = 'backbone_3d.') -> None:
        """Load ``backbone`` from the keys of ``checkpoint`` under ``prefix`` (exact match).
        ``checkpoint`` may be a work dir: its latest checkpoint is used.

        Raises:
            CheckpointMismatchError: no key under ``prefix``, or missing/unexpected keys or
                shapes that differ (each named).
        """
        checkpoint = checkpoint_file(checkpoint, 'init_backbone',
                                     'run the pretraining first (docs/lima.md)')
        ckpt_state = checkpoint_state_dict(load_checkpoint_file(checkpoint))
        state = {key[len(prefix):]: value for key, value in ckpt_state.items()
                 if key.startswith(prefix)}
        if not state:
            prefixes = sorted({key.split('.', 1)[0] + '.' for key in ckpt_state})
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} has no key under the prefix {prefix!r}; its top-level '
                f'prefixes are {prefixes[:10]}; set init_backbone.prefix')
        mismatch = compare_state_dicts(self.backbone.state_dict(), state)
        if not mismatch.ok:
            raise CheckpointMismatchError(
                f'the weights under {prefix!r} of checkpoint {checkpoint} do not fit the '
                f'backbone {type(self.backbone).__name__} of this config:\n{mismatch.format()}\n'
                'use the backbone settings (channels, blocks, in_channels) of the pretraining '
                'config')
        self.backbone.load_state_dict(state, strict=True)

    def train(self, mode: bool = True) -> VoxelSegmentor:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ forward
    def voxel_logits(self, inputs: dict) -> Tensor:
        """``inputs['voxels']`` -> (M, num_classes) logits per voxel."""
        if 'voxels' not in inputs:
            raise KeyError("VoxelSegmentor needs inputs['voxels']; use "
                           "data_preprocessor=dict(type='SegDataPreprocessor', ...)")
        vox = inputs['voxels']
        args = (vox['features'], vox['coors'], vox['batch_size'])
        if self.freeze_backbone:
            with torch.no_grad():
                feats = self.backbone(*args, sparse_shape=vox.get('sparse_shape'))
        else:
            feats = self.backbone(*args, sparse_shape=vox.get('sparse_shape'))
        return self.head(feats)

    def point_logits(self, inputs: dict) -> Tensor:
        """(N, num_classes) logits of every point of the batch (concatenated, batch order);
        a point without voxel (``point2voxel`` -1) gets zeros."""
        logits = self.voxel_logits(inputs)
        p2v = inputs['voxels']['point2voxel']
        out = logits[p2v.clamp(min=0)]
        return torch.where((p2v >= 0).unsqueeze(1), out, torch.zeros_like(out))

    def loss(self, inputs: dict, data_samples: Sequence[Det3DDataSample]) -> dict[str, Tensor]:
        logits = self.point_logits(inputs)
        labels = torch.cat([_labels(s, i) for i, s in enumerate(data_samples)]).to(logits.device)
        if len(labels) != len(logits):
            raise ValueError(f'{len(labels)} point labels for {len(logits)} points; keep '
                             'pts_semantic_mask aligned with the points in the pipeline')
        labels = torch.where(inputs['voxels']['point2voxel'] >= 0, labels,
                             torch.full_like(labels, self.ignore_index))
        loss = nn.functional.cross_entropy(logits, labels, weight=self.class_weight,
                                           ignore_index=self.ignore_index, reduction='sum')
        valid = (labels != self.ignore_index).sum().clamp(min=1)
        return dict(loss_sem_seg=self.loss_weight * loss / valid)

    def predict(self, inputs: dict,
                data_samples: Sequence[Det3DDataSample]) -> list[Det3DDataSample]:
        """Per-point labels (N_i,) int64 into ``data_samples[i].pred_pts_seg``."""
        labels = self.point_logits(inputs).argmax(1)
        counts = inputs['voxels']['points_per_sample'].tolist()
        for sample, pred in zip(data_samples, labels.split(counts)):
            sample.pred_pts_seg = PointData(pts_semantic_mask=pred.long())
        return list(data_samples)

    def forward(self, inputs: dict, data_samples: list[Det3DDataSample] | None = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.point_logits(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")


def _labels(sample: Det3DDataSample, idx: int) -> Tensor:
    if not hasattr(sample, 'gt_pts_seg') or not hasattr(sample.gt_pts_seg, 'pts_semantic_mask'):
        raise KeyError(f'data sample {idx} ({sample.metainfo.get("token")}) has no '
                       'gt_pts_seg.pts_semantic_mask; add LoadLidarsegLabels to the pipeline '
                       "and 'pts_semantic_mask' to Pack3DDetInputs keys")
    return torch.as_tensor(sample.gt_pts_seg.pts_semantic_mask).long()
