"""Checkpoints that are whole or absent: mmengine's CheckpointHook with atomic writes.

mmengine 0.10 writes ``epoch_N.pth`` straight under its final name and ``last_checkpoint``
with an absolute path: a full disk or a crash mid-save leaves a truncated checkpoint that
``--resume`` then picks, and a copied work dir resumes the original folder's run.
:class:`AtomicCheckpointHook` (registered as ``CheckpointHook`` in the ``perception_kd``
scope, so every config's ``default_hooks.checkpoint`` gets it):

- writes each checkpoint to ``<name>.<pid>.tmp`` in the same folder, fsyncs it and renames
  it (``os.replace``) into place; on an error the temporary file is removed and
  :class:`CheckpointSaveError` names the file and the last complete checkpoint;
- deletes checkpoints beyond ``max_keep_ckpts`` only after the new one is complete;
- writes ``last_checkpoint`` atomically, holding the checkpoint's path relative to the
  work dir (absolute only when ``out_dir`` puts checkpoints elsewhere), as
  :func:`perception_kd.utils.checkpoint.latest_checkpoint` reads it.

Non-local ``out_dir`` backends (``s3://...``) keep mmengine's behaviour.
"""
from __future__ import annotations

import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from ..datasets.io import fsync_dir, write_atomic
from ..registry import HOOKS

__all__ = ['AtomicCheckpointHook', 'CheckpointSaveError', 'write_last_checkpoint']


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (full disk, permissions); nothing was left under
    its final name."""


def write_last_checkpoint(work_dir: str, checkpoint: str) -> str:
    """Write ``<work_dir>/last_checkpoint`` atomically, naming ``checkpoint`` relative to
    the work dir when it lies inside (absolute otherwise); returns the written text."""
    root = osp.realpath(work_dir)
    real = osp.realpath(checkpoint)
    text = osp.relpath(real, root) if osp.commonpath([real, root]) == root else real
    write_atomic(osp.join(work_dir, 'last_checkpoint'), lambda f: f.write(text.encode()),
                 fsync=True)
    return text


@HOOKS.register_module(name='CheckpointHook')
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with atomic checkpoint files, pruning
    after a successful save, and a work-dir-relative ``last_checkpoint``."""

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids[0]
            self.keep_ckpt_ids.append(step)      # a deque of maxlen max_keep_ckpts
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        previous = self.last_ckpt
        filename = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, filename)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)

        tmp_name = f'{filename}.{os.getpid()}.tmp'
        tmp = osp.join(self.out_dir, tmp_name)
        try:
            runner.save_checkpoint(self.out_dir, tmp_name, self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta,
                                   by_epoch=self.by_epoch, backend_args=self.backend_args,
                                   **self.args)
            if is_main_process():    # Runner.save_checkpoint writes on the main process only
                with open(tmp, 'rb') as file:
                    os.fsync(file.fileno())
                os.replace(tmp, final)
                fsync_dir(self.out_dir)
        except BaseException as err:
            if osp.exists(tmp):
                os.remove(tmp)
            if isinstance(err, OSError):
                raise CheckpointSaveError(
                    f'could not write checkpoint {final} ({err.strerror or err}); nothing was '
                    'left under that name. The last complete checkpoint is '
                    f'{previous or "none"}: free disk space (or fix the permissions of '
                    f'{self.out_dir}) and continue with --resume') from err
            raise
        if not is_main_process():
            return
        if dropped is not None:
            old = osp.join(self.out_dir, self.filename_tmpl.format(dropped))
            if osp.isfile(old):
                os.remove(old)
        write_last_checkpoint(runner.work_dir, final)
