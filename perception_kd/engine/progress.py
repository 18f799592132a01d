"""A small JSON progress file for whoever watches a training or test run from outside.

:class:`ProgressFileHook` rewrites one JSON object after every iteration (training,
validation and test), atomically (temporary file in the same folder + ``os.replace``), so
a reader never sees a half-written file. :func:`perception_kd.engine.build_runner` adds
the hook when the environment variable :data:`PROGRESS_ENV` names the file;
:func:`perception_kd.engine.progress_view.run_with_progress` sets it and draws the bars.

Fields: ``phase`` (``train``, ``val`` or ``test``), ``status`` (``running``; ``metric``
after the last evaluation batch, while the metric is computed; ``done``), ``iter`` and
``max_iters`` (training: the runner's iteration counter and its total; evaluation: the
batch index + 1 and the number of batches), ``epoch``, ``max_epochs``, ``loss`` (the
iteration's total loss, training only), ``eta_s`` (seconds left in this phase, from the
mean iteration time of this process), ``elapsed_s``, ``time`` (UNIX time), ``pid``.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import time

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook

from ..registry import HOOKS

__all__ = ['PROGRESS_ENV', 'ProgressFileHook', 'progress_hook_cfg', 'read_progress',
           'write_json_atomic']

PROGRESS_ENV = 'PERCEPTION_KD_PROGRESS_FILE'


def write_json_atomic(path: str, record: dict) -> None:
    """Write ``record`` to ``path`` through a temporary file in the same folder."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'w') as f:
            json.dump(record, f)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_progress(path: str) -> dict | None:
    """The last record of a progress file, or None if there is none (yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def progress_hook_cfg() -> dict | None:
    """The hook's config when :data:`PROGRESS_ENV` is set, else None."""
    path = os.environ.get(PROGRESS_ENV)
    return dict(type='ProgressFileHook', path=path) if path else None


def _scalar(value) -> float | None:
    try:
        value = float(value.detach().float().mean()) if hasattr(value, 'detach') else float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@HOOKS.register_module()
class ProgressFileHook(Hook):
    """Write the run's position to ``path`` (JSON, atomic) after every iteration.

    Only rank 0 writes. The cost is one small file write per iteration.

    Args:
        path: the JSON file (its folder is created).
    """
    priority = 'LOWEST'

    def __init__(self, path: str):
        self.path = path
        self._phase_start = time.time()
        self._phase_first_iter = 0
        self._start = time.time()

    # ------------------------------------------------------------------ helpers

    def _write(self, runner, phase: str, status: str, it: int, max_iters: int,
               loss: float | None = None) -> None:
        if get_dist_info()[0] != 0:
            return
        now = time.time()
        done = it - self._phase_first_iter
        eta = None
        if done > 0 and max_iters:
            eta = (now - self._phase_start) / done * max(max_iters - it, 0)
        # runner.epoch / max_epochs would build the train loop (and its dataset) in a test
        # run: read them from a train loop that exists already
        loop = getattr(runner, '_train_loop', None)
        built = loop is not None and not isinstance(loop, dict)
        record = dict(phase=phase, status=status, iter=int(it), max_iters=int(max_iters or 0),
                      epoch=int(getattr(loop, 'epoch', 0) or 0) if built else 0,
                      max_epochs=int(getattr(loop, 'max_epochs', 0) or 0) if built else 0,
                      loss=loss, eta_s=eta, elapsed_s=now - self._start, time=now,
                      pid=os.getpid())
        try:
            write_json_atomic(self.path, record)
        except OSError:
            pass   # progress is a convenience: never stop a training for it

    def _begin(self, first_iter: int) -> None:
        self._phase_start = time.time()
        self._phase_first_iter = first_iter

    @staticmethod
    def _num_batches(loop) -> int:
        try:
            return len(loop.dataloader)
        except (AttributeError, TypeError):
            return 0

    # ------------------------------------------------------------------ training

    def before_train(self, runner) -> None:
        self._begin(runner.iter)
        self._write(runner, 'train', 'running', runner.iter, runner.max_iters)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        loss = _scalar(outputs['loss']) if outputs and 'loss' in outputs else None
        # the loop counts the iteration after its after_train_iter hooks: this one is done
        self._write(runner, 'train', 'running', runner.iter + 1, runner.max_iters, loss)

    def after_train(self, runner) -> None:
        self._write(runner, 'train', 'done', runner.iter, runner.max_iters)

    # ------------------------------------------------------------------ evaluation

    def _eval_iter(self, runner, phase: str, batch_idx: int) -> None:
        total = self._num_batches(getattr(runner, f'{phase}_loop', None))
        status = 'metric' if total and batch_idx + 1 >= total else 'running'
        self._write(runner, phase, status, batch_idx + 1, total)

    def before_val_epoch(self, runner) -> None:
        self._begin(0)
        self._write(runner, 'val', 'running', 0, self._num_batches(runner.val_loop))

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._eval_iter(runner, 'val', batch_idx)

    def after_val_epoch(self, runner, metrics=None) -> None:
        total = self._num_batches(runner.val_loop)
        self._write(runner, 'val', 'done', total, total)
        # back to training: its ETA restarts from here (validation time is not training time)
        self._begin(runner.iter)

    def before_test_epoch(self, runner) -> None:
        self._begin(0)
        self._write(runner, 'test', 'running', 0, self._num_batches(runner.test_loop))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._eval_iter(runner, 'test', batch_idx)

    def after_test_epoch(self, runner, metrics=None) -> None:
        total = self._num_batches(runner.test_loop)
        self._write(runner, 'test', 'done', total, total)
