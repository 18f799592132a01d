"""Initialise a :class:`SparseEncoder` (the detector's) from a pretrained :class:`MinkUNet`.

The two networks differ, so the transfer is by **conv block** (a sparse conv + its
BatchNorm, e.g. ``conv_input`` or ``stages.1.1.conv2``) and only where shapes allow:

1. Both networks are cut into groups, in depth order. MinkUNet: group 0 = the stem
   (``conv_input.0``, ``conv_input.1``), group ``i + 1`` = encoder stage ``i`` (its 2x2x2
   down-sampling conv, then each residual block's ``conv1``, ``conv2``; the 1x1x1 shortcuts
   have no counterpart). SparseEncoder: group 0 = ``conv_input`` and the stride-1 stages
   before the first down-sampling; from there on every stage is a group (its 3x3x3
   down-sampling conv if it has one, a channel-changing conv if it has one, then its
   blocks' convs in forward order). The MinkUNet decoder is never used.
2. Within a group, down-sampling convs are paired with down-sampling convs, the other
   convs by position (the result is ``mapping``, which can also be given). A stride-1
   stage after the first down-sampling is paired with the next encoder stage: same depth,
   but a finer resolution than the MinkUNet's at that depth.
3. A pair transfers only if every tensor of the target block (conv weight [+ bias], BN
   weight, bias, running mean/var, step count) has a source tensor of the same name and
   shape; then all of them are copied exactly. Otherwise nothing of the block is copied
   (a BatchNorm's statistics belong to the conv before it), and the pair is reported.

spconv 2.x stores every conv weight as ``(out, kz, ky, kx, in)`` in both networks, so equal
shapes mean equal layouts. The 2x2x2 down-sampling convs of MinkUNet never fit the 3x3x3
ones of SparseEncoder; ``conv_out`` has no source. Nothing is interpolated or sliced.

Example::

    >>> report = transfer_sparse_weights(detector.lidar_encoder.sparse_encoder,
    ...                                  'work_dirs/lima_pretrain_cpu', prefix='backbone_3d.')
    >>> report.num_transferred, report.fraction_params
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import spconv.pytorch as spconv
import torch
from mmengine.logging import print_log
from spconv.pytorch.conv import SparseConvolution
from torch import Tensor, nn

from ...utils.checkpoint import checkpoint_file, checkpoint_state_dict, load_checkpoint_file

Shape = tuple[int, ...]


@dataclass
class TransferReport:
    """What :func:`transfer_sparse_weights` did.

    Attributes:
        transferred: ``(source block, target block)`` pairs whose tensors were all copied.
        mismatched: ``(source block, target block, source conv shape, target conv shape)``
            pairs left untouched because a shape (or a tensor name) differs.
        target_untouched: target tensor names not written (their initialisation stays).
        source_unused: source tensor names (without the prefix) not copied anywhere.
        copied_params: number of parameter values copied (buffers excluded).
        target_params: number of parameter values of the target module.
        checkpoint: the file read.
    """
    transferred: list[tuple[str, str]] = field(default_factory=list)
    mismatched: list[tuple[str, str, Shape, Shape]] = field(default_factory=list)
    target_untouched: list[str] = field(default_factory=list)
    source_unused: list[str] = field(default_factory=list)
    copied_params: int = 0
    target_params: int = 0
    checkpoint: str = ''

    @property
    def num_transferred(self) -> int:
        return len(self.transferred)

    @property
    def fraction_params(self) -> float:
        """Fraction of the target's parameter values that now come from the checkpoint."""
        return self.copied_params / max(self.target_params, 1)

    def format(self) -> str:
        lines = [f'sparse weight transfer from {self.checkpoint}: {self.num_transferred} conv '
                 f'blocks copied, {len(self.mismatched)} paired but not copied (shape), '
                 f'{self.copied_params}/{self.target_params} parameters '
                 f'({100 * self.fraction_params:.1f} %) from the checkpoint']
        lines += [f'  copied      {src} -> {tgt}' for src, tgt in self.transferred]
        lines += [f'  not copied  {src} {tuple(s)} -> {tgt} {tuple(t)}'
                  for src, tgt, s, t in self.mismatched]
        untouched = sorted({_block_of(key) for key in self.target_untouched})
        lines.append(f'  target blocks keeping their initialisation: {untouched}')
        return '\n'.join(lines)


def _block_of(key: str) -> str:
    """``'stages.1.1.conv1.0.weight'`` -> ``'stages.1.1.conv1'`` (conv block prefix)."""
    return key.rsplit('.', 2)[0]


def _is_down(conv: SparseConvolution) -> bool:
    return not conv.subm and not conv.inverse and any(int(s) > 1 for s in conv.stride)


def minkunet_groups(state: Mapping[str, Tensor]) -> list[list[str]]:
    """Conv block prefixes of a MinkUNet state dict per group (see module doc), in order."""
    groups: dict[int, list[str]] = {}
    for key, value in state.items():
        if not key.endswith('.0.weight') or value.dim() != 5 or '.shortcut.' in key:
            continue
        block = key[:-len('.0.weight')]
        enc = re.match(r'encoder\.(\d+)\.', block)
        if re.fullmatch(r'conv_input\.\d+', block):
            groups.setdefault(0, []).append(block)
        elif enc:
            groups.setdefault(int(enc.group(1)) + 1, []).append(block)
    return [groups.get(i, []) for i in range(max(groups, default=-1) + 1)]


def sparse_encoder_groups(module: nn.Module) -> list[list[str]]:
    """Conv block prefixes of a SparseEncoder per group (see module doc), in forward order."""
    groups: list[list[str]] = [[]]
    current = None
    for name, sub in module.named_modules():
        if not (isinstance(sub, spconv.SparseSequential) and len(sub) > 0
                and isinstance(sub[0], SparseConvolution)) or name.startswith('conv_out'):
            continue
        stage = re.match(r'stages\.(\d+)\.', name)
        stage = None if stage is None else int(stage.group(1))
        # a new group at every stage from the first down-sampling on
        if stage is not None and stage != current and (len(groups) > 1 or _is_down(sub[0])):
            groups.append([])
        current = stage if stage is not None else current
        groups[-1].append(name)
    return groups


def _pair(src: list[str], tgt: list[str], src_down: list[bool],
          tgt_down: list[bool]) -> list[tuple[str, str]]:
    """Down-sampling convs with down-sampling convs, the other convs in order."""
    pairs = list(zip([s for s, d in zip(src, src_down) if d],
                     [t for t, d in zip(tgt, tgt_down) if d]))
    return pairs + list(zip([s for s, d in zip(src, src_down) if not d],
                            [t for t, d in zip(tgt, tgt_down) if not d]))


def default_mapping(source: Mapping[str, Tensor], target: nn.Module) -> dict[str, str]:
    """Pair MinkUNet conv blocks with SparseEncoder conv blocks (see module doc)."""
    modules = dict(target.named_modules())
    mapping = {}
    for src, tgt in zip(minkunet_groups(source), sparse_encoder_groups(target)):
        src_down = [re.fullmatch(r'encoder\.\d+\.0', b) is not None for b in src]
        tgt_down = [_is_down(modules[b][0]) for b in tgt]
        mapping.update(_pair(src, tgt, src_down, tgt_down))
    return mapping


def _resolve(checkpoint: str) -> str:
    return checkpoint_file(checkpoint, 'sparse weight transfer',
                           'run the pretraining first (docs/lima.md)')


def transfer_sparse_weights(target: nn.Module, checkpoint: str | Mapping[str, Tensor],
                            prefix: str = 'backbone_3d.',
                            mapping: Mapping[str, str] | None = None,
                            log: bool = True) -> TransferReport:
    """Copy the pretrained MinkUNet conv blocks whose shapes fit into ``target`` (in place).

    Args:
        target: a :class:`SparseEncoder` (or any module; then give ``mapping``).
        checkpoint: a ``.pth`` file, a work dir (its latest checkpoint) or a state dict.
        prefix: the keys of the pretrained backbone in the checkpoint (``'backbone_3d.'``
            for a ``LiMAPretrainer`` checkpoint, ``'backbone.'`` for a ``VoxelSegmentor``).
        mapping: source block prefix (after ``prefix``) -> target block prefix; default
            :func:`default_mapping`.
        log: print the report to the current mmengine logger.

    Returns:
        a :class:`TransferReport` naming every copied, refused and untouched block.

    Raises:
        KeyError: no key of the checkpoint under ``prefix``, or a ``mapping`` entry names a
            block that does not exist.
    """
    name = '<state dict>'
    if isinstance(checkpoint, str):
        name = _resolve(checkpoint)
        checkpoint = checkpoint_state_dict(load_checkpoint_file(name))
    source = {key[len(prefix):]: value for key, value in checkpoint.items()
              if key.startswith(prefix)}
    if not source:
        tops = sorted({key.split('.', 1)[0] + '.' for key in checkpoint})
        raise KeyError(f'checkpoint {name} has no key under the prefix {prefix!r}; its top-level '
                       f'prefixes are {tops[:10]}; set the prefix of the transfer')
    target_state = target.state_dict()
    mapping = dict(default_mapping(source, target) if mapping is None else mapping)
    report = TransferReport(checkpoint=name,
                            target_params=sum(p.numel() for p in target.parameters()))
    params = dict(target.named_parameters())
    written, used = set(), set()
    for src_block, tgt_block in mapping.items():
        src_keys = {k[len(src_block) + 1:]: k for k in source if k.startswith(src_block + '.')}
        tgt_keys = {k[len(tgt_block) + 1:]: k for k in target_state
                    if k.startswith(tgt_block + '.')}
        if not src_keys or not tgt_keys:
            side, block = ('checkpoint', src_block) if not src_keys else ('target', tgt_block)
            raise KeyError(f'mapping {src_block!r} -> {tgt_block!r}: no block {block!r} in the '
                           f'{side}')
        fits = set(src_keys) == set(tgt_keys) and all(
            source[src_keys[s]].shape == target_state[tgt_keys[s]].shape for s in tgt_keys)
        if not fits:
            src_w, tgt_w = source.get(src_keys.get('0.weight')), target_state.get(
                tgt_keys.get('0.weight'))
            report.mismatched.append((src_block, tgt_block,
                                      () if src_w is None else tuple(src_w.shape),
                                      () if tgt_w is None else tuple(tgt_w.shape)))
            continue
        with torch.no_grad():
            for suffix, tgt_key in tgt_keys.items():
                value = source[src_keys[suffix]]
                target_state[tgt_key].copy_(value.to(target_state[tgt_key].dtype))
                if tgt_key in params:
                    report.copied_params += value.numel()
        written.update(tgt_keys.values())
        used.update(src_keys.values())
        report.transferred.append((src_block, tgt_block))
    report.target_untouched = [k for k in target_state if k not in written]
    report.source_unused = [k for k in source if k not in used]
    if log:
        print_log(report.format(), logger='current')
    return report
