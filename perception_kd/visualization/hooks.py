"""A runner hook that saves pictures of the first N evaluated samples next to the metrics.

Enable it in a config (the ``perception_kd`` HOOKS registry imports this package when
the hook is built, so no ``custom_imports`` is needed)::

    custom_hooks = [dict(type='Det3DVisualizationHook', num_samples=8)]

or from ``tools/test.py --show-dir DIR --show-num N`` (see docs/visualization.md).
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmengine.hooks import Hook

from ..registry import HOOKS
from .results import Predictions
from .sample import SampleSource, pad_velocity
from .scene import SceneOptions
from .visualizer import IMAGE_KINDS, SampleVisualizer


def _numpy(value, dtype) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def predictions_of(data_sample) -> Predictions:
    """A model output's ``pred_instances_3d`` (LiDAR frame) as :class:`Predictions`."""
    pred = data_sample.pred_instances_3d
    return Predictions(boxes=pad_velocity(_numpy(pred.bboxes_3d, np.float64)),
                       scores=_numpy(pred.scores_3d, np.float64),
                       labels=_numpy(pred.labels_3d, np.int64))


@HOOKS.register_module()
class Det3DVisualizationHook(Hook):
    """Save images of the samples with dataset index < ``num_samples`` during test / val.

    Each rank draws the samples it evaluates, so the set does not depend on the number
    of processes. Ground truth comes from the info file, predictions from the model's
    ``pred_instances_3d`` (keyframe LiDAR frame).

    Args:
        out_dir: folder; default ``<work_dir>/<timestamp>/vis_<phase>`` (validation adds
            ``iter_<i>``, the training iteration it ran after).
        num_samples: how many samples (the first ones of the dataset).
        kinds: images per sample, any of ``bev``, ``chase``, ``cameras``, ``bevplot``.
        phases: ``test`` and/or ``val``.
        score_thr: hide predictions scoring lower.
        sweeps: sweeps merged into the drawn cloud.
        point_color: ``height`` | ``intensity`` | ``time`` | ``lidarseg``.
        size: (W, H) of the Open3D images.
    """
    priority = 'LOW'

    def __init__(self, out_dir: str | None = None, num_samples: int = 8,
                 kinds: Sequence[str] = IMAGE_KINDS, phases: Sequence[str] = ('test',),
                 score_thr: float = 0.3, sweeps: int = 0, point_color: str = 'height',
                 size: tuple[int, int] = (1024, 768)):
        unknown = set(phases) - {'test', 'val'}
        if unknown:
            raise ValueError(f'phases must be among test / val, got {sorted(unknown)}')
        self.out_dir = out_dir
        self.num_samples = int(num_samples)
        self.kinds = tuple(kinds)
        self.phases = tuple(phases)
        self.sweeps = sweeps
        self.size = tuple(size)
        self.options = SceneOptions(point_color=point_color, score_thr=score_thr)
        self._sources: dict[str, SampleSource] = {}
        self._visualizers: dict[str, SampleVisualizer] = {}

    def _folder(self, runner, phase: str) -> str:
        base = self.out_dir or osp.join(runner.work_dir, runner.timestamp, f'vis_{phase}')
        return osp.join(base, f'iter_{runner.iter}') if phase == 'val' else base

    def _source(self, runner, phase: str) -> SampleSource:
        if phase not in self._sources:
            dataset = getattr(runner, f'{phase}_dataloader').dataset
            while hasattr(dataset, 'dataset'):      # dataset wrappers
                dataset = dataset.dataset
            self._sources[phase] = SampleSource(dataset)
        return self._sources[phase]

    def _draw(self, runner, phase: str, outputs) -> None:
        if phase not in self.phases or not outputs or self.num_samples <= 0:
            return
        source = self._source(runner, phase)
        folder = self._folder(runner, phase)
        visualizer = self._visualizers.get(phase)
        if visualizer is None or visualizer.out_dir != folder:
            visualizer = self._visualizers[phase] = SampleVisualizer(
                folder, self.kinds, self.options, self.size)
        for output in outputs:
            index = self._index(source, output.metainfo)
            if index is None or index >= self.num_samples:
                continue
            sample = source.load(index, sweeps=self.sweeps)
            visualizer.visualize(sample, predictions_of(output))

    @staticmethod
    def _index(source: SampleSource, meta: dict) -> int | None:
        """Dataset index of an output: its ``sample_idx`` if it matches the token, else by token."""
        token, index = meta.get('token'), meta.get('sample_idx')
        if index is not None and 0 <= index < len(source) and (
                token is None or source.info(index)['token'] == token):
            return int(index)
        return source.index_of_token(token) if token is not None else None

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._draw(runner, 'test', outputs)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._draw(runner, 'val', outputs)

    def after_test(self, runner) -> None:
        self._finish(runner, 'test')

    def after_val(self, runner) -> None:
        self._finish(runner, 'val')

    def _finish(self, runner, phase: str) -> None:
        """Report where the images went and release the Open3D renderer."""
        visualizer = self._visualizers.pop(phase, None)
        if visualizer is not None:
            visualizer.close()
            runner.logger.info(f'Det3DVisualizationHook: images of the first {self.num_samples} '
                               f'{phase} samples in {visualizer.out_dir}')
