"""spconv 2.x helpers: pick each sparse conv's algorithm by device, and a block factory.

spconv's default algorithm (``MaskImplicitGemm``) has CUDA kernels only; on CPU tensors
a forward fails ("Torch not compiled with CUDA enabled" on CPU-only torch). The
``Native`` algorithm runs on both. The weight layout is the same for every algorithm in
spconv >= 2.2 (``ALL_WEIGHT_IS_KRSC``), so switching after construction or after loading
a checkpoint is safe. Works on any model holding spconv layers (ours or, e.g., mmdet3d's).

Example::

    >>> net = spconv.SparseSequential(spconv.SubMConv3d(4, 8, 3, indice_key='subm1'))
    >>> set_spconv_algo(net)          # CPU weights -> Native; CUDA weights -> the default
    1
"""
from __future__ import annotations

import spconv.pytorch as spconv
import torch
from spconv.core import ConvAlgo
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ['set_spconv_algo', 'register_spconv_algo_hook', 'sparse_conv_block', 'spconv_layers']

# Where a layer's algorithm as built is remembered, to restore it on CUDA.
_DEFAULT_ATTR = '_pkd_default_algo'


def spconv_layers(model: nn.Module):
    """The spconv convolution layers of ``model`` (any module with a ``ConvAlgo`` ``algo``)."""
    return [m for m in model.modules() if isinstance(getattr(m, 'algo', None), ConvAlgo)]


def set_spconv_algo(model: nn.Module, device: str | torch.device | None = None) -> int:
    """Set the algorithm of every spconv layer of ``model`` for the device it runs on.

    Args:
        model: any module; every submodule with a ``ConvAlgo`` ``algo`` attribute (spconv's
            ``SparseConvolution`` and subclasses) is handled.
        device: the device the model will run on; None uses each layer's weight device.

    On CPU a layer gets ``ConvAlgo.Native`` (its former algorithm is remembered); on CUDA
    a layer we switched gets its former algorithm back, others are left alone.

    Returns:
        The number of layers whose algorithm changed.
    """
    _check_layout()
    changed = 0
    for layer in spconv_layers(model):
        dev = torch.device(device) if device is not None else layer.weight.device
        if dev.type == 'cuda':
            target = getattr(layer, _DEFAULT_ATTR, layer.algo)
        else:
            if not hasattr(layer, _DEFAULT_ATTR):
                setattr(layer, _DEFAULT_ATTR, layer.algo)
            target = ConvAlgo.Native
        if layer.algo != target:
            layer.algo = target
            changed += 1
    return changed


def register_spconv_algo_hook(model: nn.Module) -> RemovableHandle:
    """Make ``model`` pick its spconv algorithms before each forward, by its weights' device.

    A forward pre-hook calls :func:`set_spconv_algo` whenever the device of the first
    spconv layer's weight changed since the last forward (so ``model.cuda()`` / ``.cpu()``
    just work). Returns the hook handle (``.remove()`` to detach).
    """
    state = {'device': None}

    def hook(module: nn.Module, args) -> None:
        layers = spconv_layers(module)
        if not layers:
            return
        device = layers[0].weight.device
        if device != state['device']:
            set_spconv_algo(module)
            state['device'] = device

    return model.register_forward_pre_hook(hook)


def sparse_conv_block(in_channels: int,
                      out_channels: int,
                      kernel_size: int = 3,
                      stride: int = 1,
                      padding: int = 0,
                      conv_type: str = 'subm',
                      indice_key: str | None = None,
                      norm: bool = True,
                      act: bool = True,
                      device: str | torch.device | None = None,
                      bn_eps: float = 1e-3,
                      bn_momentum: float = 0.01) -> spconv.SparseSequential:
    """Sparse conv (+ BatchNorm1d + ReLU) as a ``SparseSequential``, algorithm set for ``device``.

    Args:
        conv_type: ``'subm'`` (SubMConv3d, keeps the active sites), ``'spconv'``
            (SparseConv3d, e.g. stride-2 down-sampling) or ``'inverse'`` (SparseInverseConv3d,
            which needs the ``indice_key`` of the conv it inverts; stride/padding unused).
        norm, act: append ``BatchNorm1d(eps=bn_eps, momentum=bn_momentum)`` / ``ReLU``;
            without a norm the conv has a bias.
        device: where the block will run (None: CPU, as it is built); the algorithm can be
            reset later with :func:`set_spconv_algo`.

    Input/output: ``SparseConvTensor`` with features (V, in_channels) -> (V', out_channels).
    """
    bias = not norm
    if conv_type == 'subm':
        conv = spconv.SubMConv3d(in_channels, out_channels, kernel_size, stride=stride,
                                 padding=padding, bias=bias, indice_key=indice_key)
    elif conv_type == 'spconv':
        conv = spconv.SparseConv3d(in_channels, out_channels, kernel_size, stride=stride,
                                   padding=padding, bias=bias, indice_key=indice_key)
    elif conv_type == 'inverse':
        if indice_key is None:
            raise ValueError("an 'inverse' sparse conv needs the indice_key of the conv it inverts")
        conv = spconv.SparseInverseConv3d(in_channels, out_channels, kernel_size, bias=bias,
                                          indice_key=indice_key)
    else:
        raise ValueError(f"conv_type must be 'subm', 'spconv' or 'inverse', got {conv_type!r}")
    layers = [conv]
    if norm:
        layers.append(nn.BatchNorm1d(out_channels, eps=bn_eps, momentum=bn_momentum))
    if act:
        layers.append(nn.ReLU(inplace=True))
    block = spconv.SparseSequential(*layers)
    set_spconv_algo(block, device if device is not None else 'cpu')
    return block


def _check_layout() -> None:
    from spconv import constants
    if not getattr(constants, 'ALL_WEIGHT_IS_KRSC', False):
        raise RuntimeError('this spconv build stores Native-algorithm weights in another layout; '
                           'switching algorithms would break the weights. Use spconv >= 2.2.')
