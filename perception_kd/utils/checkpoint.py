"""Checkpoint helpers for the tools: find the latest one, check one against a model.

mmengine loads a checkpoint whose keys do not match the model with ``strict=False`` and
only logs a warning, so a test run with the wrong checkpoint silently evaluates random
weights. :func:`check_checkpoint_matches` compares keys and shapes first and raises
:class:`CheckpointMismatchError` listing what differs.

Example::

    check_checkpoint_matches(runner.model, 'work_dirs/centerpoint_lidar/epoch_20.pth')
"""
from __future__ import annotations

import glob
import os.path as osp
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from . import checkpoint_compat  # noqa: F401  (allowlists mmengine's checkpoint globals)

__all__ = ['CheckpointMismatchError', 'CheckpointWarning', 'StateDictMismatch',
           'check_checkpoint_matches', 'checkpoint_file', 'checkpoint_problem',
           'compare_state_dicts', 'latest_checkpoint', 'load_checkpoint_file']


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not match the model built from the config."""


@dataclass
class StateDictMismatch:
    """Differences between a model's state dict and a checkpoint's.

    Attributes:
        missing: keys of the model that the checkpoint lacks.
        unexpected: keys of the checkpoint that the model lacks.
        shape: ``(key, checkpoint shape, model shape)`` of keys in both with other shapes.
        settings: ``(key, checkpoint value, model value)`` of recorded settings
            (:data:`SETTING_BUFFERS`, e.g. the point-feature scaling) that differ.
    """
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    settings: list[tuple[str, list, list]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape or self.settings)

    def format(self, limit: int = 20) -> str:
        """Human-readable listing, at most ``limit`` keys per kind."""
        lines = []
        for title, items in (('missing in the checkpoint (the model has them)', self.missing),
                             ('unexpected in the checkpoint (the model lacks them)',
                              self.unexpected)):
            if items:
                lines.append(f'{len(items)} key(s) {title}:')
                lines.extend(f'  {key}' for key in items[:limit])
                if len(items) > limit:
                    lines.append(f'  ... and {len(items) - limit} more')
        for key, theirs, ours in self.settings:
            lines.append(f'setting {key}: the checkpoint was trained with {theirs}, the model '
                         f'is configured with {ours}')
        if self.shape:
            lines.append(f'{len(self.shape)} key(s) with another shape (checkpoint vs model):')
            lines.extend(f'  {key}: {tuple(a)} vs {tuple(b)}' for key, a, b in self.shape[:limit])
            if len(self.shape) > limit:
                lines.append(f'  ... and {len(self.shape) - limit} more')
        return '\n'.join(lines)


class CheckpointWarning(UserWarning):
    """A checkpoint or ``last_checkpoint`` marker was skipped (unreadable, or outside the
    work dir)."""


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` cannot be a complete checkpoint, or None if it looks whole.

    ``torch.save`` writes a zip archive whose directory is at the end, so a file cut short
    (full disk, crash mid-save) has none; the stored CRCs of every member are checked too
    (one read of the file, no unpickling).
    """
    try:
        size = osp.getsize(path)
    except OSError as err:
        return f'cannot be read: {err.strerror or err}'
    if size == 0:
        return 'empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f'truncated or not a torch checkpoint ({size} bytes; {err})'
    if bad is not None:
        return f'corrupt: member {bad} fails its CRC check'
    return None


def _marked_checkpoint(work_dir: str) -> str | None:
    """The checkpoint named by ``<work_dir>/last_checkpoint``, resolved inside the work dir.

    The marker holds a path relative to the work dir (written by our CheckpointHook) or an
    absolute one (mmengine's). An absolute path outside the work dir (a copied or moved
    work dir) is never followed: the file of that name in the work dir is used instead,
    with a :class:`CheckpointWarning` naming both, or None if the work dir has none.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        named = f.read().strip()
    if not named:
        return None
    if not osp.isabs(named):
        return osp.join(work_dir, named)
    root = osp.realpath(work_dir)
    if osp.commonpath([osp.realpath(named), root]) == root:
        return named
    local = osp.join(work_dir, osp.basename(named))
    warnings.warn(f'{marker} names {named}, outside this work dir {work_dir} (a copied or moved '
                  'work dir?); not continuing another run: ' +
                  (f'using {local} instead' if osp.isfile(local) else
                   'looking for the newest checkpoint of this work dir instead'),
                  CheckpointWarning, stacklevel=3)
    return local if osp.isfile(local) else None


def _numbered_checkpoints(work_dir: str) -> list[str]:
    """``epoch_*.pth`` / ``iter_*.pth`` of a work dir, newest first (by number, then mtime)."""
    found = []
    for kind in ('epoch', 'iter'):
        for path in glob.glob(osp.join(glob.escape(work_dir), f'{kind}_*.pth')):
            match = re.fullmatch(rf'{kind}_(\d+)\.pth', osp.basename(path))
            if match:
                found.append((int(match.group(1)), osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def checkpoint_file(path: str, what: str, hint: str) -> str:
    """The checkpoint file that ``path`` names: the file itself, or a work dir's latest
    checkpoint. Otherwise a ``FileNotFoundError`` that starts with ``what`` (the setting,
    e.g. ``'init_backbone'``), names the path and ends with ``hint`` (how to make one).
    """
    if osp.isdir(path):
        found = latest_checkpoint(path)
        if found:
            return found
        raise FileNotFoundError(f'{what}: work dir {path} holds no checkpoint (epoch_*.pth / '
                                f'last_checkpoint); {hint}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: checkpoint {path} not found; {hint}')
    return path


def latest_checkpoint(work_dir: str, check: bool = True) -> str | None:
    """The latest readable checkpoint of a work dir, or None.

    The one named in ``<work_dir>/last_checkpoint`` (see :func:`_marked_checkpoint`:
    relative to the work dir, never outside it) if it exists, else the highest-numbered
    ``epoch_*.pth`` / ``iter_*.pth``. With ``check``, a checkpoint that is not whole
    (:func:`checkpoint_problem`: truncated by a full disk or a crash) is skipped with a
    :class:`CheckpointWarning` naming it, and the next newest one is taken.
    """
    marked = _marked_checkpoint(work_dir)
    candidates = ([marked] if marked and osp.isfile(marked) else []) + \
        [path for path in _numbered_checkpoints(work_dir)
         if not (marked and osp.isfile(marked) and osp.samefile(path, marked))]
    for path in candidates:
        problem = checkpoint_problem(path) if check else None
        if problem is None:
            return path
        warnings.warn(f'skipping checkpoint {path}: {problem}; falling back to an older one '
                      '(delete the file once you have checked it)', CheckpointWarning,
                      stacklevel=2)
    return None


def load_checkpoint_file(path: str) -> dict:
    """Load a checkpoint on CPU (local path or URL, through mmengine's loaders).

    Raises:
        FileNotFoundError: a local path that does not exist.
    """
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} not found')
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'{path} does not hold a state dict (got '
                                      f'{type(checkpoint).__name__})')
    return dict(checkpoint)


def checkpoint_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """The state dict of a loaded checkpoint, with DDP's ``module.`` prefix removed
    (as mmengine does when loading)."""
    state = checkpoint.get('state_dict', checkpoint)
    return {re.sub(r'^module\.', '', key): value for key, value in state.items()}


# Buffers that record a setting of the model (not learned): name suffix -> the value a
# checkpoint written before the buffer existed implies (None: no default, must be present).
SETTING_BUFFERS = {'feature_scale': 1.0}


def _setting_default(key: str) -> float | None:
    return SETTING_BUFFERS.get(key.rsplit('.', 1)[-1], None)


def compare_state_dicts(model_state: Mapping[str, torch.Tensor],
                        ckpt_state: Mapping[str, torch.Tensor]) -> StateDictMismatch:
    """Compare keys and shapes of two state dicts, and the values of recorded settings
    (:data:`SETTING_BUFFERS`; one missing from an older checkpoint counts as its default)."""
    result = StateDictMismatch(
        missing=sorted(set(model_state) - set(ckpt_state)),
        unexpected=sorted(set(ckpt_state) - set(model_state)))
    for key in list(result.missing):
        default = _setting_default(key)
        if default is not None:
            result.missing.remove(key)
            ours = model_state[key]
            if not bool(torch.all(ours == default)):
                result.settings.append((key, f'no record (all {default})', ours.tolist()))
    for key in sorted(set(model_state) & set(ckpt_state)):
        ours, theirs = model_state[key], ckpt_state[key]
        if hasattr(ours, 'shape') and hasattr(theirs, 'shape') and \
                tuple(ours.shape) != tuple(theirs.shape):
            result.shape.append((key, tuple(theirs.shape), tuple(ours.shape)))
        elif _setting_default(key) is not None and not torch.allclose(
                theirs.float(), ours.float(), rtol=1e-6, atol=0):
            result.settings.append((key, theirs.tolist(), ours.tolist()))
    return result


def check_checkpoint_matches(model: nn.Module, path: str,
                             checkpoint: Mapping | None = None) -> StateDictMismatch:
    """Raise :class:`CheckpointMismatchError` unless ``path`` fits ``model`` exactly.

    Args:
        model: the model (a DDP-wrapped one is unwrapped).
        path: checkpoint file, named in the error.
        checkpoint: the already loaded checkpoint, or None to load ``path``.

    Returns:
        The (empty) :class:`StateDictMismatch` when everything matches.
    """
    if is_model_wrapper(model):
        model = model.module
    checkpoint = load_checkpoint_file(path) if checkpoint is None else checkpoint
    ckpt_state = checkpoint_state_dict(checkpoint)
    mismatch = compare_state_dicts(model.state_dict(), ckpt_state)
    if mismatch.ok:
        return mismatch
    lines = [f'checkpoint {path} does not match the model {type(model).__name__} built from '
             'the config:', mismatch.format()]
    hint = _prefix_hint(model.state_dict(), ckpt_state)
    if hint:
        lines.append(hint)
    meta = checkpoint.get('meta') or {}
    if isinstance(meta, Mapping) and meta.get('experiment_name'):
        lines.append(f'the checkpoint was written by experiment {meta["experiment_name"]}')
    lines.append('use the checkpoint of this config (or the config of this checkpoint)')
    raise CheckpointMismatchError('\n'.join(lines))


def _prefix_hint(model_state: Mapping, ckpt_state: Mapping) -> str | None:
    """A hint when the model's weights sit under one prefix of the checkpoint's keys
    (e.g. ``student.`` of a distillation checkpoint)."""
    prefixes = Counter(key.split('.', 1)[0] for key in ckpt_state if '.' in key)
    for prefix, _ in prefixes.most_common(3):
        stripped = {key[len(prefix) + 1:] for key in ckpt_state if key.startswith(prefix + '.')}
        if model_state and len(stripped & set(model_state)) >= 0.9 * len(model_state):
            return (f"the model's weights are in the checkpoint under the prefix '{prefix}.' "
                    '(e.g. the student of a distillation checkpoint): extract them first '
                    '(tools/export_student.py for a Distiller)')
    return None
