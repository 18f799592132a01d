"""Training hooks of perception_kd (registered in :data:`perception_kd.registry.HOOKS`)."""
from __future__ import annotations

import os.path as osp

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook

from ..registry import HOOKS
from ..utils.checkpoint import latest_checkpoint

__all__ = ['CheckInvalidLossHook', 'InvalidLossError']


class InvalidLossError(FloatingPointError):
    """A loss term became NaN or infinite during training."""


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Stop training with a clear error as soon as a loss term is NaN or infinite.

    Same name and ``interval`` argument as mmengine's hook of this name (which it shadows
    in the ``perception_kd`` scope), but it checks every logged term, names the offending
    ones, the iteration, epoch and samples, and stops all ranks together.

    It runs after the iteration's optimizer step (the only place a hook sees the losses)
    and before the checkpoint hook, so no checkpoint with invalid weights is written.

    Args:
        interval: check every ``interval`` training iterations (1: every iteration; the
            check is one ``isfinite`` over the scalar loss terms, plus one all-reduce of a
            flag when distributed).

    Raises:
        InvalidLossError: on the first non-finite term, on every rank.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: dict[str, torch.Tensor] | None = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        names = [name for name, value in outputs.items()
                 if 'loss' in name and isinstance(value, (torch.Tensor, float, int))]
        if not names:
            return
        values = torch.stack([torch.as_tensor(outputs[name]).detach().float().mean().cpu()
                              for name in names])
        finite = torch.isfinite(values)
        bad_here = int((~finite).any())
        _, world_size = get_dist_info()
        bad_ranks = bad_here
        if world_size > 1:
            flag = torch.tensor([bad_here], dtype=torch.int64)
            all_reduce(flag, op='sum')
            bad_ranks = int(flag.item())
        if not bad_ranks:
            return
        raise InvalidLossError(self._message(runner, batch_idx, data_batch, names, values,
                                             finite, bad_here, bad_ranks))

    @staticmethod
    def _message(runner, batch_idx, data_batch, names: list[str], values: torch.Tensor,
                 finite: torch.Tensor, bad_here: int, bad_ranks: int) -> str:
        rank, world_size = get_dist_info()
        where = f'iteration {runner.iter + 1}'
        loop = runner.train_loop
        if getattr(loop, '_max_epochs', None) is not None:  # epoch-based
            try:
                n_batches = f'/{len(loop.dataloader)}'
            except TypeError:
                n_batches = ''
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}{n_batches})'
        if world_size > 1:
            where += f' on rank {rank} of {world_size}'
        if bad_here:
            bad = ', '.join(
                f'{n}={v:g}' for n, v, ok in zip(names, values.tolist(), finite.tolist()) if not ok
            )
            good = ', '.join(f'{n}={v:.4g}' for n, v, ok in zip(names, values.tolist(),
                                                                 finite.tolist()) if ok)
            lines = [f'non-finite loss at {where}: {bad}' + (f' (finite: {good})' if good else '')]
            samples = _sample_ids(data_batch)
            if samples:
                lines.append(f'samples of this batch: {", ".join(samples)}')
        else:
            lines = [f'non-finite loss on {bad_ranks} other rank(s) at {where}; this rank '
                     'stops with them (see their error for the loss terms)']
        last = latest_checkpoint(runner.work_dir) if osp.isdir(runner.work_dir) else None
        lines.append('the optimizer step of this iteration has run, so the weights in memory '
                     'are invalid; no checkpoint was written for it' +
                     (f' (last checkpoint: {last})' if last else ''))
        lines.append('common causes: a learning rate too high or too short a warmup, no '
                     'gradient clipping (optim_wrapper.clip_grad), fp16 overflow (train '
                     'without --amp), or a broken sample (check it with tools/check_dataset.py)')
        return '\n'.join(lines)


def _sample_ids(data_batch, limit: int = 8) -> list[str]:
    """Tokens (or sample indices) of the batch's data samples, where they carry them."""
    if not isinstance(data_batch, dict):
        return []
    samples = data_batch.get('data_samples')
    if not isinstance(samples, (list, tuple)):
        return []
    ids = []
    for sample in samples:
        meta = getattr(sample, 'metainfo', None)
        if meta is None and isinstance(sample, dict):
            meta = sample
        if not isinstance(meta, dict):
            continue
        for key in ('token', 'sample_idx', 'sample_token'):
            if meta.get(key) is not None:
                ids.append(f'{key}={meta[key]}')
                break
    return ids[:limit] + ([f'... ({len(ids) - limit} more)'] if len(ids) > limit else [])
