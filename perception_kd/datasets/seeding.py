"""Per-sample random seeds, so that augmentation does not depend on history.

The transforms draw from the global ``numpy`` / ``random`` / ``torch`` generators. Left
alone, what sample ``i`` gets in epoch ``e`` depends on everything drawn before it in the
same process (earlier epochs, the worker it lands on, persistent workers' past), so a
resumed run augments differently from an uninterrupted one. A dataset with
:class:`SampleSeedMixin` reseeds all three generators before each sample from
``(seed, epoch, index)`` once :meth:`SampleSeedMixin.set_sample_seed` has been called
(``perception_kd.engine.EpochSeedHook`` does it in training): the same sample in the same
epoch is augmented the same way whatever the number of workers, their persistence, or a
resume in between; another epoch gives other draws.

The epoch lives in a shared-memory tensor, so persistent DataLoader workers (forked or
spawned) see the epoch the main process sets.
"""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ['SampleSeedMixin', 'derive_seed', 'seed_all']

_MASK = 2 ** 64 - 1


def derive_seed(*keys: int) -> int:
    """A 32-bit seed from integer keys (e.g. ``seed, epoch, index``), well
    mixed (``numpy.random.SeedSequence``): neighbouring keys give unrelated streams."""
    return int(np.random.SeedSequence([int(k) & _MASK for k in keys]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class SampleSeedMixin:
    """Adds per-sample seeding to a dataset; call :meth:`seed_sample` first thing in
    ``__getitem__`` (a no-op until :meth:`set_sample_seed` is called)."""

    _sample_seed: torch.Tensor | None = None   # int64 (2,): seed, epoch; shared memory

    def set_sample_seed(self, seed: int, epoch: int) -> None:
        """Seed samples from ``(seed, epoch, index)`` from now on (call it in the main
        process before DataLoader workers start, then once per epoch)."""
        if self._sample_seed is None:
            self._sample_seed = torch.zeros(2, dtype=torch.int64).share_memory_()
        self._sample_seed[0] = int(seed)
        self._sample_seed[1] = int(epoch)

    def seed_sample(self, index: int) -> None:
        """Reseed the global generators for sample ``index`` of the current epoch."""
        if self._sample_seed is not None:
            seed, epoch = (int(v) for v in self._sample_seed.tolist())
            seed_all(derive_seed(seed, epoch, index))
