"""Checks that ``tools/train.py`` and ``tools/test.py`` run before building the Runner.

A missing data root, a truncated info file, an unreadable checkpoint, an output folder
that cannot be written or an evaluator setting the data root does not have would
otherwise surface as a traceback after hundreds of lines of log (or, for the evaluator,
after a whole training epoch). Each check here is cheap (no info file is unpickled, no
devkit table is loaded) and raises :class:`PreflightError` with one line naming the
config key and the path.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping

from mmengine.config import Config

from ..datasets.io import NotWritableError, check_writable_dir, info_file_problem
from ..utils.checkpoint import checkpoint_problem
from ..utils.cli import ToolError
from .config import _dataset_dicts, _metric_dicts

__all__ = ['PreflightError', 'check_checkpoint_readable', 'check_datasets', 'check_evaluators',
           'preflight']


class PreflightError(ToolError):
    """A start-up check failed; the message names the config key and the file."""


def _is_url(path) -> bool:
    return isinstance(path, str) and '://' in path


def check_checkpoint_readable(path: str, what: str) -> None:
    """Raise unless ``path`` is a whole checkpoint: a torch zip archive whose members pass
    their CRC check, or a legacy (pre-1.6) torch pickle."""
    if _is_url(path):
        return
    if not osp.isfile(path):
        raise PreflightError(f'{what}: checkpoint {path} not found')
    problem = checkpoint_problem(path)
    if problem is None:
        return
    with open(path, 'rb') as file:
        head = file.read(2)
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return                        # torch.save(..., _use_new_zipfile_serialization=False)
    raise PreflightError(f'{what}: checkpoint {path} is {problem}; pass a complete checkpoint')


def check_datasets(cfg: Config, loader_keys) -> None:
    """Each dataset of ``loader_keys`` (``train_dataloader`` ...): its ``data_root`` exists
    and its ``ann_file`` exists and, a ``.pkl``, is a whole pickle."""
    for key in loader_keys:
        loader = cfg.get(key)
        if not isinstance(loader, Mapping):
            continue
        for dataset in _dataset_dicts(loader.get('dataset')):
            root = dataset.get('data_root')
            if root and not osp.isdir(root):
                raise PreflightError(f'{key}: data root {root} does not exist (set it with '
                                     '--data-root or data_root in the config)')
            ann_file = dataset.get('ann_file')
            if not isinstance(ann_file, str) or not ann_file or _is_url(ann_file):
                continue
            path = ann_file if osp.isabs(ann_file) or not root else osp.join(root, ann_file)
            if not osp.isfile(path):
                raise PreflightError(
                    f'{key}: info file {path} not found; build it with `python '
                    f'tools/create_data.py {root or "<nuscenes root>"} --version VERSION`, or '
                    'fix ann_file / data_root')
            problem = info_file_problem(path) if path.endswith('.pkl') else None
            if problem:
                raise PreflightError(f'{key}: info file {path} is {problem}; rebuild it with '
                                     f'`python tools/create_data.py {root or "<nuscenes root>"}`')


def check_evaluators(cfg: Config, evaluator_keys) -> None:
    """Build each metric of ``evaluator_keys`` and call its ``check_setup()`` if it has one
    (e.g. :meth:`NuScenesDetMetric.check_setup`: the version's tables are in the data root).
    A metric that cannot be built is left to the Runner (it explains unknown types)."""
    from ..registry import METRICS
    for key in evaluator_keys:
        for index, metric_cfg in enumerate(_metric_dicts(cfg.get(key))):
            try:
                metric = METRICS.build(dict(metric_cfg))
            except Exception:         # noqa: BLE001  (reported by the Runner with context)
                continue
            check = getattr(metric, 'check_setup', None)
            if check is None:
                continue
            try:
                check()
            except (FileNotFoundError, ValueError, KeyError) as err:
                name = key if len(_metric_dicts(cfg.get(key))) == 1 else f'{key}[{index}]'
                reason = err.args[0] if isinstance(err, KeyError) and err.args else err
                raise PreflightError(f'{name}: {reason}') from err


def preflight(cfg: Config, mode: str) -> None:
    """All start-up checks of a ``'train'`` or ``'test'`` run of ``cfg``.

    Train: the work dir can be written, the train (and, with a ``val_cfg``, val) datasets
    and evaluators, ``load_from`` and a distiller's ``model.teacher_ckpt``. Test: the work
    dir, the test dataset and evaluator, the checkpoint (``load_from``).
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    try:
        check_writable_dir(cfg.work_dir, 'work dir')
    except NotWritableError as err:
        raise PreflightError(f'{err} (--work-dir)') from err
    if mode == 'train':
        loaders = ['train_dataloader']
        evaluators = []
        if cfg.get('val_cfg') is not None and cfg.get('val_dataloader') is not None:
            loaders.append('val_dataloader')
            evaluators.append('val_evaluator')
    else:
        loaders, evaluators = ['test_dataloader'], ['test_evaluator']
    check_datasets(cfg, loaders)
    if cfg.get('load_from') and not (mode == 'train' and cfg.get('resume')):
        check_checkpoint_readable(cfg.load_from, 'load_from' if mode == 'train' else
                                  'checkpoint')
    model = cfg.get('model')
    teacher = model.get('teacher_ckpt') if isinstance(model, Mapping) else None
    if isinstance(teacher, str) and osp.isfile(teacher):   # a work dir: resolved at build
        check_checkpoint_readable(teacher, 'model.teacher_ckpt')
    check_evaluators(cfg, evaluators)
