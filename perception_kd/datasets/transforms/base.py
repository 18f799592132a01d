"""The transform base class, pipeline building and per-instance filtering helpers.

A transform is a callable ``results: dict -> dict | None`` (mmengine's ``Compose`` stops
at None). mmcv is not a dependency; :class:`BaseTransform` gives the same shape
(``__call__`` -> ``transform``) so mmcv-style transforms read the same.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...registry import TRANSFORMS

# Per-instance arrays a sample may carry; every instance filter indexes all of them.
INSTANCE_KEYS = ('gt_bboxes_3d', 'gt_labels_3d', 'gt_names_3d', 'instance_tokens')


class BaseTransform:
    """Base of the pipeline steps: subclasses implement :meth:`transform`."""

    def __call__(self, results: dict) -> dict | None:
        return self.transform(results)

    def transform(self, results: dict) -> dict | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


def build_pipeline(cfgs: Sequence[dict | Callable] | None) -> list:
    """Build transform configs with the ``perception_kd`` TRANSFORMS registry.

    Callables pass through. A bad step raises the registry's error prefixed with its
    position and type, e.g. ``pipeline step 2 (type='LoadPointsFromFile'): ...``.
    """
    steps = []
    for i, cfg in enumerate(cfgs or []):
        if callable(cfg):
            steps.append(cfg)
            continue
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError(f'pipeline step {i} must be a dict with a "type" key or a callable, '
                            f'got {cfg!r}')
        try:
            steps.append(TRANSFORMS.build(cfg))
        except (KeyError, TypeError, ValueError) as err:
            raise type(err)(f'pipeline step {i} (type={cfg["type"]!r}): {err}') from err
    return steps


def filter_instances(results: dict, keep: np.ndarray) -> dict:
    """Index every per-instance array of ``results`` (see ``INSTANCE_KEYS``) with a mask."""
    for key in INSTANCE_KEYS:
        if key in results:
            results[key] = results[key][keep]
    return results
