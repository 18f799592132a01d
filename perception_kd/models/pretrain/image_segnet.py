"""``ImageSegNet``: a small image segmentation network, the project's own 2D teacher.

A stand-in for the supervised / self-supervised 2D teachers of PPKT / SLidR / LiMA (no hub
weights can be fetched here): trained in minutes on CPU on the synthetic renderer's exact
per-pixel class maps, its trunk (backbone + neck) is then loaded, frozen, by
:class:`~perception_kd.models.pretrain.FrozenImageEncoder` (``prefix=''``).

- trunk: ``backbone`` (e.g. ``ResNet(depth=18, base_channels=16, out_indices=(0, 1, 2,
  3))``) + ``neck`` fusing its levels into one map (e.g. ``ImageFPN(out_channels=64)``:
  stride 4, 64 channels): the feature map the teacher exposes.
- head: a 1x1 conv to the 16 nuScenes-lidarseg benchmark classes. Labels are the 32 fine
  lidarseg indices of ``inputs['img_semantics']``, mapped by the devkit's
  ``LidarsegClassMapper`` to the benchmark's 0..16; benchmark 0 (``noise``, which the
  renderer uses for sky/unknown, and the fine classes the benchmark ignores) is not
  trained on. Logit ``k`` is benchmark class ``k + 1``.
- loss: cross-entropy on logits upsampled (bilinear) to the label size (``loss_seg``), or
  with ``upsample_logits=False`` on labels sampled at the feature cells' centres.

Inputs (after ``Det3DDataPreprocessor``, which normalises the images and passes
``img_semantics`` through): ``imgs`` (B, Ncam, 3, H, W) float, ``img_semantics`` list of B
(Ncam, H, W) integer maps (or one (B, Ncam, H, W) tensor).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...registry import MODELS
from .seg_classes import LIDARSEG_FINE_CLASSES, fine_to_coarse_lut

__all__ = ['ImageSegNet']

IGNORE = -1


@MODELS.register_module()
class ImageSegNet(BaseModel):
    """Backbone + neck + 1x1 classifier, per-pixel lidarseg classes for every camera image.

    Args:
        backbone: image backbone config (output: a tuple of levels or one map).
        neck: config fusing the levels into one (N, C, H / s, W / s) map; None: the
            backbone's last level is used.
        num_classes: classifier outputs (16 benchmark classes).
        class_map: label index -> train index + 1 (0 ignored) lookup, ``'lidarseg'`` for
            the devkit's 32 -> 16 mapping, or None when the labels already are 0..num_classes
            benchmark indices.
        upsample_logits: compute the loss at full label resolution (else at the cells).
        data_preprocessor: default ``Det3DDataPreprocessor`` (ImageNet mean/std, RGB).
    """

    def __init__(self, backbone: dict, neck: dict | None = None, num_classes: int = 16,
                 class_map: str | Sequence[int] | None = 'lidarseg', upsample_logits: bool = True,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='Det3DDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = None if neck is None else MODELS.build(neck)
        channels = self.neck.out_channels if self.neck is not None else \
            self.backbone.out_channels[-1]
        self.classifier = nn.Conv2d(int(channels), num_classes, 1)
        self.num_classes = num_classes
        self.upsample_logits = upsample_logits
        if class_map == 'lidarseg':
            lut = torch.from_numpy(fine_to_coarse_lut())
        elif class_map is None:
            lut = torch.arange(num_classes + 1)
        else:
            lut = torch.as_tensor(list(class_map), dtype=torch.int64)
        if int(lut.max()) > num_classes or int(lut.min()) < 0:
            raise ValueError(f'class_map values must be in 0..{num_classes}, got {lut.tolist()}')
        self.register_buffer('label_lut', lut - 1, persistent=False)  # -1 = ignore

    # ------------------------------------------------------------------ features
    def extract_feat(self, imgs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised -> (N, C, H / s, W / s) trunk features."""
        out = self.backbone(imgs)
        if self.neck is not None:
            out = self.neck(out)
        return out[-1] if isinstance(out, (tuple, list)) else out

    def _logits(self, inputs: dict) -> Tensor:
        imgs = inputs['imgs']
        if imgs.dim() == 4:
            imgs = imgs[:, None]
        batch, ncam = imgs.shape[:2]
        logits = self.classifier(self.extract_feat(imgs.flatten(0, 1)))
        return logits.view(batch, ncam, *logits.shape[1:])

    def targets(self, semantics: Tensor | Sequence[Tensor], size: Sequence[int]) -> Tensor:
        """Label maps -> (B, Ncam, H, W) int64 train indices (-1 ignored)."""
        if not isinstance(semantics, Tensor):
            semantics = list(semantics)
            shapes = sorted({tuple(s.shape) for s in semantics})
            if len(shapes) != 1:
                raise ValueError(f'img_semantics of a batch must share one shape, got {shapes}')
            semantics = torch.stack([torch.as_tensor(s) for s in semantics])
        if semantics.dim() == 3:
            semantics = semantics[:, None]
        if tuple(semantics.shape[-2:]) != tuple(size):
            raise ValueError(f'img_semantics {tuple(semantics.shape)} do not match the images '
                             f'(H, W) = {tuple(size)}; load them before ImageAug3D')
        labels = semantics.to(self.label_lut.device).long()
        if bool((labels < 0).any()) or int(labels.max()) >= len(self.label_lut):
            raise ValueError(f'img_semantics hold values outside 0..{len(self.label_lut) - 1} '
                             f'(the {len(LIDARSEG_FINE_CLASSES)} fine lidarseg classes); check '
                             'the semantic2d maps or class_map')
        return self.label_lut[labels]

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: dict, data_samples: list | None = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._logits(inputs)
        raise ValueError(f'ImageSegNet: unknown mode {mode!r} (loss, predict, tensor)')

    def loss(self, inputs: dict, data_samples: list | None = None) -> dict[str, Tensor]:
        """``dict(loss_seg=...)``: cross-entropy over the non-ignored pixels."""
        if 'img_semantics' not in inputs:
            raise KeyError("ImageSegNet needs inputs['img_semantics']: add LoadImageSemantics "
                           "before ImageAug3D and 'img_semantics' to Pack3DDetInputs' keys")
        logits = self._logits(inputs)
        size = inputs['imgs'].shape[-2:]
        target = self.targets(inputs['img_semantics'], size)
        logits = logits.flatten(0, 1)
        target = target.flatten(0, 1)
        if self.upsample_logits:
            logits = F.interpolate(logits, size=tuple(size), mode='bilinear', align_corners=False)
        else:
            stride_h, stride_w = size[0] // logits.shape[-2], size[1] // logits.shape[-1]
            target = target[:, stride_h // 2::stride_h, stride_w // 2::stride_w]
            target = target[:, :logits.shape[-2], :logits.shape[-1]]
        if not bool((target != IGNORE).any()):
            return dict(loss_seg=logits.sum() * 0.0)  # every pixel ignored: no signal
        return dict(loss_seg=F.cross_entropy(logits, target, ignore_index=IGNORE))

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: list | None = None) -> list:
        """Per-pixel benchmark classes 1..16, (Ncam, H, W) uint8 per sample.

        With ``data_samples``, each gets ``pred_sem_seg_2d`` (and ``gt_sem_seg_2d``, the
        benchmark labels 0..16, when ``img_semantics`` are given) and the list is returned;
        otherwise the list of prediction tensors.
        """
        logits = self._logits(inputs)
        size = inputs['imgs'].shape[-2:]
        logits = F.interpolate(logits.flatten(0, 1), size=tuple(size), mode='bilinear',
                               align_corners=False).view(*logits.shape[:3], *size)
        preds = (logits.argmax(2) + 1).to(torch.uint8)
        if data_samples is None:
            return list(preds)
        gts = None
        if 'img_semantics' in inputs:
            gts = (self.targets(inputs['img_semantics'], size) + 1).to(torch.uint8)
        outputs: list = []
        for idx, sample in enumerate(data_samples):
            sample.pred_sem_seg_2d = preds[idx]
            if gts is not None:
                sample.gt_sem_seg_2d = gts[idx]
            outputs.append(sample)
        return outputs
