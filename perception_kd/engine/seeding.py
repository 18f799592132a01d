"""Exact resume: the random numbers of epoch ``e`` depend on ``(seed, epoch)`` only.

A resumed Runner reseeds its generators at start-up, so from the resumed epoch on the
data augmentation (and dropout, random sampling in losses) drew other numbers than the
uninterrupted run did: the loss curves differed by about 1 %. :class:`EpochSeedHook`
(a default hook, ``configs/_base_/default_runtime.py``) removes the history:

- before each training iteration it reseeds ``random`` / numpy / torch of the main
  process from ``(seed, epoch, iteration)`` (dropout, random sampling in the model), and
  before each epoch it sets the epoch of the training dataset's per-sample seeding
  (:class:`~perception_kd.datasets.seeding.SampleSeedMixin`: each sample draws from
  ``(seed, epoch, index)``, in any worker, persistent or not);
- it stores the sampler's seed in the checkpoint and restores it on resume (it differs
  from the config's when ``randomness.seed`` is None).

Exact for epoch-based loops resumed from an epoch checkpoint. A dataset without the mixin
is still exact with ``num_workers=0`` or non-persistent workers (mmengine seeds those
alike every epoch); with persistent workers a warning says that it is not.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator

from mmengine.hooks import Hook

from ..datasets.seeding import derive_seed, seed_all
from ..registry import HOOKS

__all__ = ['EpochSeedHook']


def _datasets(dataset) -> Iterator:
    """A dataset and those it wraps (mmengine/torch Concat, Repeat, ClassBalanced...)."""
    yield dataset
    for inner in getattr(dataset, 'datasets', None) or []:
        yield from _datasets(inner)
    if getattr(dataset, 'dataset', None) is not None:
        yield from _datasets(dataset.dataset)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed each training epoch from ``(runner.seed, epoch)``; save and restore the
    sampler seed with the checkpoint. No arguments."""
    priority = 'VERY_HIGH'

    def __init__(self):
        self._seeded: list = []

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        self._seeded = [ds for ds in _datasets(loader.dataset) if hasattr(ds, 'set_sample_seed')]
        for dataset in self._seeded:      # the shared epoch exists before workers start
            dataset.set_sample_seed(runner.seed, runner.epoch)
        if not self._seeded and getattr(loader, 'persistent_workers', False) and \
                getattr(loader, 'num_workers', 0) > 0:
            warnings.warn(f'{type(loader.dataset).__name__} has no per-sample seeding '
                          '(perception_kd.datasets.seeding.SampleSeedMixin) and the training '
                          'DataLoader keeps persistent workers: a resumed run will augment '
                          'differently from an uninterrupted one (set persistent_workers=False '
                          'or add the mixin)', stacklevel=2)

    def before_train_epoch(self, runner) -> None:
        for dataset in self._seeded:
            dataset.set_sample_seed(runner.seed, runner.epoch)
        seed_all(derive_seed(runner.seed, runner.epoch))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # the loader may draw from the main generators between epochs differently in a
        # resumed run (a new worker pool draws its base seed, persistent workers do not)
        seed_all(derive_seed(runner.seed, runner.epoch, runner.iter))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        seed = getattr(getattr(runner.train_dataloader, 'sampler', None), 'seed', None)
        if seed is not None:
            checkpoint.setdefault('meta', {})['sampler_seed'] = int(seed)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = (checkpoint.get('meta') or {}).get('sampler_seed')
        if saved is None or not getattr(runner, '_resume', False):
            return                               # load_from: a new run keeps its own order
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if sampler is not None and getattr(sampler, 'seed', None) not in (None, saved):
            sampler.seed = saved
