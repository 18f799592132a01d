"""``TimmBackbone``: a thin wrapper making a timm model an image backbone, weights from disk.

``timm`` is optional (not in requirements): it is imported when the module is built, with
a clear error when it is missing. Nothing is ever downloaded: the model is created with
``pretrained=False`` and its weights are read from ``checkpoint`` (a local ``.pth``/``.bin``
or ``.safetensors`` file).

Two modes:
- CNNs (``features_only=True``, default unless the model is a ViT): timm's feature
  extractor; output a tuple of maps (N, C_i, H / s_i, W / s_i) for ``out_indices``
  (``out_channels`` / ``strides`` attributes from timm's ``feature_info``).
- ViTs (``vit_*``, e.g. ``vit_small_patch14_dinov2``; or ``patch_tokens=True``): the
  last block's patch tokens (class/register tokens dropped) reshaped to a map
  (N, C, ceil(H / p), ceil(W / p)), p the patch size; the image is zero-padded to a
  multiple of p (in the normalised space) and the position embedding is interpolated to
  the grid (``dynamic_img_size=True``).
"""
from __future__ import annotations

import math
import os.path as osp
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import MODELS

__all__ = ['TimmBackbone']

#: checkpoint keys a feature extractor does not have (classifier heads, DINOv2's mask token)
HEAD_PREFIXES = ('head.', 'fc.', 'classifier.', 'head_drop.', 'fc_norm.', 'mask_token')


def _import_timm():
    try:
        import timm
    except ImportError as err:
        raise ImportError('TimmBackbone needs the optional package timm (and torchvision): '
                          'pip install timm; it is not a requirement of perception_kd. Its '
                          'weights are never downloaded: give checkpoint=PATH') from err
    return timm


def _read_state(path: str) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'TimmBackbone checkpoint {path} not found (nothing is downloaded). Save the '
            'weights on disk first, e.g. DINOv2\'s dinov2_vits14_pretrain.pth or timm\'s '
            'model.safetensors of the same model_name')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state = load_file(path, device='cpu')
    else:
        state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model', 'teacher'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


@MODELS.register_module()
class TimmBackbone(nn.Module):
    """A timm model as an image backbone (no download: ``pretrained=False`` + local file).

    Args:
        model_name: timm model name, e.g. ``'resnet50'``, ``'vit_small_patch14_dinov2'``.
        checkpoint: local weights file of that model (None: random init, for tests).
        features_only: multi-level CNN features; default: True unless a ViT.
        out_indices: levels returned in ``features_only`` mode.
        patch_tokens: ViT mode (see the module doc); default: True for ``vit_*`` names.
        strict: error on checkpoint keys that the model lacks (heads are always skipped)
            as well as on missing ones.
        **kwargs: passed to ``timm.create_model`` (e.g. ``img_size=518``).
    """

    def __init__(self, model_name: str, checkpoint: str | None = None,
                 features_only: bool | None = None, out_indices: Sequence[int] | None = None,
                 patch_tokens: bool | None = None, strict: bool = True, **kwargs):
        super().__init__()
        timm = _import_timm()
        is_vit = model_name.startswith(('vit_', 'deit', 'eva'))
        self.patch_tokens = is_vit if patch_tokens is None else patch_tokens
        features_only = (not self.patch_tokens) if features_only is None else features_only
        if features_only == self.patch_tokens:
            raise ValueError('TimmBackbone: choose exactly one of features_only (CNN levels) '
                             'and patch_tokens (ViT token map)')
        self.model_name = model_name
        if self.patch_tokens:
            kwargs.setdefault('dynamic_img_size', True)
            self.model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
            self.patch_size = int(self.model.patch_embed.patch_size[0])
            self.out_channels = (int(self.model.num_features),)
            self.strides = (self.patch_size,)
        else:
            extra = {} if out_indices is None else dict(out_indices=tuple(out_indices))
            self.model = timm.create_model(model_name, pretrained=False, features_only=True,
                                           **extra, **kwargs)
            self.out_channels = tuple(self.model.feature_info.channels())
            self.strides = tuple(self.model.feature_info.reduction())
        if checkpoint is not None:
            self.load_checkpoint(checkpoint, strict)

    def load_checkpoint(self, path: str, strict: bool = True) -> None:
        """Load a local weights file of ``model_name`` (heads skipped; timm's own key
        conversion applied to ViTs, e.g. DINOv2's original checkpoints)."""
        state = _read_state(path)
        if self.patch_tokens:
            try:
                from timm.models.vision_transformer import checkpoint_filter_fn
                state = checkpoint_filter_fn(state, self.model)
            except ImportError:
                pass
        state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
        result = self.model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith(HEAD_PREFIXES)]
        unexpected = list(result.unexpected_keys) if strict else []
        if missing or unexpected:
            raise RuntimeError(
                f'TimmBackbone({self.model_name!r}) checkpoint {path}: missing keys '
                f'{missing[:10]} ({len(missing)}), unexpected keys {unexpected[:10]} '
                f'({len(unexpected)}); is it a checkpoint of this model_name?')

    def forward(self, x: Tensor) -> Tensor | tuple:
        """(N, 3, H, W) normalised -> (N, C, H/p, W/p) (ViT) or a tuple of levels (CNN)."""
        if not self.patch_tokens:
            return tuple(self.model(x))
        height, width = x.shape[-2:]
        grid_h, grid_w = math.ceil(height / self.patch_size), math.ceil(width / self.patch_size)
        pad_h, pad_w = grid_h * self.patch_size - height, grid_w * self.patch_size - width
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        tokens = self.model.forward_features(x)  # (N, prefix + grid_h * grid_w, C)
        tokens = tokens[:, int(getattr(self.model, 'num_prefix_tokens', 1)):]
        if tokens.shape[1] != grid_h * grid_w:
            raise RuntimeError(f'{self.model_name}: {tokens.shape[1]} patch tokens for a '
                               f'{grid_h}x{grid_w} grid; unsupported token layout')
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, grid_h, grid_w)
