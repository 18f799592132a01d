"""``FrozenImageEncoder``: the frozen 2D teacher of LiMA-style image-to-LiDAR pretraining.

Wraps any registered image backbone (and optional neck), loads its weights from a local
checkpoint once at construction, and stays frozen for good: every parameter has
``requires_grad=False``, ``train()`` keeps the whole module in eval mode (BatchNorm
statistics fixed, dropout off) and ``forward`` runs under ``torch.no_grad()``.

Input: images (B, 3, H, W) or (B, Ncam, 3, H, W), float RGB in 0..255 (not normalised:
the encoder subtracts ``mean`` and divides by ``std`` itself). Output: features
(B, C, H / s, W / s) (or (B, Ncam, C, H / s, W / s)) with ``C = out_channels`` and
``s = stride``, both measured at construction by one probe forward.

Example (the teacher trained by ``configs/lima_image_teacher_cpu.py``: ResNet-18 at 1/4
width + ImageFPN, stride 4, 64 channels)::

    teacher = FrozenImageEncoder(
        backbone=dict(type='ResNet', depth=18, base_channels=16, out_indices=(0, 1, 2, 3)),
        neck=dict(type='ImageFPN', in_channels=[16, 32, 64, 128], out_channels=64),
        checkpoint='work_dirs/lima_image_teacher_cpu', prefix='')
    feats = teacher(imgs)  # (B, 64, H / 4, W / 4)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ...utils.checkpoint import (
    checkpoint_file,
    checkpoint_state_dict,
    compare_state_dicts,
    load_checkpoint_file,
)

__all__ = ['FrozenImageEncoder', 'ImageEncoderCheckpointError', 'resolve_checkpoint']

#: sub-modules of the encoder whose weights come from the checkpoint
PARTS = ('backbone', 'neck')


class ImageEncoderCheckpointError(RuntimeError):
    """The image encoder's checkpoint does not fit its backbone/neck."""


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file from a file or a work dir (its latest checkpoint), else a clear
    ``FileNotFoundError`` saying how to make one."""
    return checkpoint_file(
        path, 'image encoder checkpoint',
        'nothing is downloaded. Train the image teacher with python tools/train.py '
        'configs/lima_image_teacher_cpu.py (its checkpoints go to '
        'work_dirs/lima_image_teacher_cpu/), or point checkpoint at a local .pth file; for '
        'timm/DINOv2 weights use backbone=dict(type=\'TimmBackbone\', checkpoint=PATH) '
        '(docs/lima.md, "Image teacher")')


def _part_prefixes(keys) -> list:
    """Prefixes under which a checkpoint holds ``backbone.`` / ``neck.`` keys."""
    found = set()
    for key in keys:
        for part in PARTS:
            if key.startswith(part + '.'):
                found.add('')
            pos = key.find(f'.{part}.')
            if pos >= 0:
                found.add(key[:pos + 1])
    return sorted(found)


def _build(cfg: dict | nn.Module) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


@MODELS.register_module()
class FrozenImageEncoder(BaseModule):
    """A frozen image backbone (+ neck) returning one feature map per image.

    Args:
        backbone: config (or module) of an image backbone, e.g. ``ResNet`` or
            ``TimmBackbone``; its output may be a tensor or a tuple of levels.
        neck: optional config (or module) fusing the backbone's levels into one map
            (e.g. ``ImageFPN``).
        checkpoint: local checkpoint file, or a work dir (its latest checkpoint); None
            keeps the weights the backbone/neck were built with (e.g. ``ResNet(pretrained=
            PATH)``, ``TimmBackbone(checkpoint=PATH)``).
        prefix: where the encoder's weights sit in the checkpoint: the keys
            ``<prefix>backbone.*`` and ``<prefix>neck.*`` are loaded (strict: a missing or
            unexpected key under them, or another shape, is an error). ``''`` for an
            ``ImageSegNet`` checkpoint, ``'camera_encoder.'`` for a camera detector's,
            ``'student.camera_encoder.'`` for a distilled one.
        mean, std: per-channel normalisation of the 0..255 RGB input.
        to_bgr: reverse the channels (RGB -> BGR) before normalising.
        out_index: level returned when the final output (neck's, else backbone's) is a
            sequence of maps (default the last one).
        probe_size: (H, W) of the zero image used once to measure ``stride`` and
            ``out_channels`` (must suit the backbone, e.g. a multiple of a ViT's patch).
    """

    def __init__(self, backbone: dict | nn.Module, neck: dict | nn.Module | None = None,
                 checkpoint: str | None = None, prefix: str = '',
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), to_bgr: bool = False,
                 out_index: int = -1, probe_size: Sequence[int] = (224, 224),
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std must be 3 values (std > 0), got {mean}, {std}')
        self.backbone = _build(backbone)
        self.neck = None if neck is None else _build(neck)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.to_bgr = to_bgr
        self.out_index = out_index
        self.prefix = prefix
        self.checkpoint = None
        if checkpoint is not None:
            self.checkpoint = resolve_checkpoint(checkpoint)
            self.load_weights(self.checkpoint, prefix)
        self.requires_grad_(False)
        self.train(False)
        self.out_channels, self.stride = self._probe(tuple(int(v) for v in probe_size))

    # ------------------------------------------------------------------ weights
    def encoder_state_dict(self) -> dict[str, Tensor]:
        """The loadable weights: ``backbone.*`` and ``neck.*`` (no normalisation buffers)."""
        state = {}
        for part in PARTS:
            module = getattr(self, part)
            if module is not None:
                state.update({f'{part}.{k}': v for k, v in module.state_dict().items()})
        return state

    def load_weights(self, path: str, prefix: str = '') -> None:
        """Load ``<prefix>backbone.*`` / ``<prefix>neck.*`` of checkpoint ``path`` (strict)."""
        ckpt_state = checkpoint_state_dict(load_checkpoint_file(path))
        wanted = tuple(f'{prefix}{part}.' for part in PARTS)
        picked = {k[len(prefix):]: v for k, v in ckpt_state.items() if k.startswith(wanted)}
        mismatch = compare_state_dicts(self.encoder_state_dict(), picked)
        if not mismatch.ok:
            lines = [f'image encoder checkpoint {path} (prefix {prefix!r}) does not fit the '
                     'encoder\'s backbone/neck:', mismatch.format(limit=10)]
            found = _part_prefixes(ckpt_state)
            if found and prefix not in found:
                lines.append(f'backbone./neck. keys sit under the prefix(es) {found[:5]} of this '
                             'checkpoint: set prefix to one of them')
            lines.append('check that backbone/neck are configured as in the run that wrote the '
                         'checkpoint (depth, base_channels, out_indices, neck channels)')
            raise ImageEncoderCheckpointError('\n'.join(lines))
        for part in PARTS:
            module = getattr(self, part)
            if module is not None:
                head = f'{part}.'
                module.load_state_dict({k[len(head):]: v for k, v in picked.items()
                                        if k.startswith(head)}, strict=True)

    def init_weights(self) -> None:
        """No-op: the weights come from the checkpoint (or the backbone's own loading);
        the runner's initialisation must not overwrite a frozen teacher."""
        self._is_init = True

    # ------------------------------------------------------------------ frozen state
    def train(self, mode: bool = True) -> FrozenImageEncoder:
        """Always eval: the teacher's BatchNorm statistics and dropout never change."""
        return super().train(False)

    # ------------------------------------------------------------------ forward
    def _probe(self, size: tuple) -> tuple:
        feats = self.forward(torch.zeros(1, 3, *size, device=self.mean.device))
        stride_h, stride_w = size[0] / feats.shape[-2], size[1] / feats.shape[-1]
        if abs(stride_h - stride_w) > 1e-6 or abs(stride_h - round(stride_h)) > 1e-6:
            raise ValueError(f'probe {size} -> features {tuple(feats.shape[-2:])}: no integer '
                             'stride; set probe_size to a size the backbone divides evenly')
        return int(feats.shape[1]), int(round(stride_h))

    @torch.no_grad()
    def forward(self, imgs: Tensor) -> Tensor:
        """(B, 3, H, W) or (B, Ncam, 3, H, W) 0..255 RGB -> (B[, Ncam], C, H / s, W / s)."""
        if imgs.dim() not in (4, 5) or imgs.shape[-3] != 3:
            raise ValueError('FrozenImageEncoder expects (B, 3, H, W) or (B, Ncam, 3, H, W) '
                             f'images, got {tuple(imgs.shape)}')
        lead = imgs.shape[:-3]
        x = imgs.reshape(-1, *imgs.shape[-3:]).float()
        if self.to_bgr:
            x = x.flip(1)
        x = (x - self.mean) / self.std
        out = self.backbone(x)
        if self.neck is not None:
            out = self.neck(out)
        if isinstance(out, (tuple, list)):
            out = out[self.out_index]
        return out.reshape(*lead, *out.shape[1:])
