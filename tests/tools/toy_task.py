"""A toy regression task for the tool tests: model, dataset, metric and hooks registered in
the perception_kd registries (names prefixed ``Toy`` so they never clash), and a writer of
an experiment config that uses the real ``configs/_base_`` runtime and CPU schedule.

Configs import this module with ``custom_imports=dict(imports=['toy_task'])``; the tests
put ``tests/tools`` on ``PYTHONPATH`` for subprocesses (pytest does it in-process).
"""
import importlib.util
import json
import os
import os.path as osp
import sys
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel, is_model_wrapper
from torch import nn
from torch.utils.data import Dataset

from perception_kd.datasets.seeding import SampleSeedMixin
from perception_kd.registry import DATASETS, HOOKS, METRICS, MODELS

REPO = Path(__file__).resolve().parents[2]
TOOLS_TEST_DIR = Path(__file__).resolve().parent


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """A 2-layer MLP regressing a scalar; two loss terms (``loss_mse``, ``loss_l1``).

    Args:
        nan_after: from this many training forward passes on, ``loss_mse`` is NaN.
        dropout: dropout probability on the inputs (draws from torch's generator).
    """

    def __init__(self, in_dim: int = 4, hidden: int = 8, nan_after: int | None = None,
                 dropout: float = 0.0, data_preprocessor: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.dropout = nn.Dropout(dropout)
        self.nan_after = nan_after
        self.loss_calls = 0

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        out = self.net(self.dropout(inputs)).squeeze(-1)
        if mode == 'loss':
            self.loss_calls += 1
            loss_mse = ((out - data_samples) ** 2).mean()
            if self.nan_after is not None and self.loss_calls > self.nan_after:
                loss_mse = loss_mse * float('nan')
            return dict(loss_mse=loss_mse, loss_l1=0.1 * (out - data_samples).abs().mean())
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(out.detach(), data_samples)]
        return out


@DATASETS.register_module()
class ToyRegressionDataset(SampleSeedMixin, Dataset):
    """``num_samples`` fixed samples ``inputs`` (in_dim,) -> ``data_samples`` (scalar).

    ``augment_std``: add numpy Gaussian noise of this std to the inputs (a random
    augmentation drawing from the global numpy generator, as the real transforms do).
    """

    def __init__(self, num_samples: int = 16, in_dim: int = 4, seed: int = 0,
                 augment_std: float = 0.0):
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(num_samples, in_dim, generator=gen)
        self.y = self.x.sum(1) * 0.5 + 0.1 * torch.randn(num_samples, generator=gen)
        self.augment_std = augment_std

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        self.seed_sample(index)
        inputs = self.x[index]
        if self.augment_std:
            noise = np.random.normal(0.0, self.augment_std, inputs.shape)
            inputs = inputs + torch.as_tensor(noise, dtype=inputs.dtype)
        return dict(inputs=inputs, data_samples=self.y[index])


@METRICS.register_module()
class ToyMSEMetric(BaseMetric):
    """Mean squared error; writes ``predictions.json`` under ``jsonfile_prefix`` if set."""
    default_prefix = 'toy'

    def __init__(self, jsonfile_prefix: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.jsonfile_prefix = jsonfile_prefix

    def process(self, data_batch, data_samples) -> None:
        self.results.extend((float(s['pred']), float(s['target'])) for s in data_samples)

    def compute_metrics(self, results) -> dict:
        if self.jsonfile_prefix:
            os.makedirs(self.jsonfile_prefix, exist_ok=True)
            with open(osp.join(self.jsonfile_prefix, 'predictions.json'), 'w') as f:
                json.dump(results, f)
        return dict(mse=sum((p - t) ** 2 for p, t in results) / max(len(results), 1))


@HOOKS.register_module()
class ToySaveRankWeightsHook(Hook):
    """After training, each rank saves its weights to ``<out_dir>/rank<r>.pth``."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        rank, world_size = get_dist_info()
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save(dict(state_dict=model.state_dict(), world_size=world_size,
                        wrapper=type(runner.model).__name__,
                        iters=runner.iter), osp.join(self.out_dir, f'rank{rank}.pth'))


@HOOKS.register_module()
class ToyPauseHook(Hook):
    """Test support for killing a training at a known point: when the environment variable
    ``TOY_PAUSE_AT`` is ``'<epoch>:<iteration>'`` (1-based, iteration within the epoch),
    sleep ``seconds`` after that training iteration; otherwise do nothing (no randomness
    drawn, so runs with and without the pause train the same)."""

    def __init__(self, seconds: float = 120.0):
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        at = os.environ.get('TOY_PAUSE_AT')
        if at and (runner.epoch + 1, batch_idx + 1) == tuple(int(v) for v in at.split(':')):
            import time
            time.sleep(self.seconds)


@HOOKS.register_module()
class ToySlowIterHook(Hook):
    """Sleeps ``seconds`` after every training, validation and test iteration (so a watcher
    polling a progress file sees the iterations one by one)."""

    def __init__(self, seconds: float = 0.2):
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)


TOY_CONFIG = '''
_base_ = [{runtime!r}, {schedule!r}]
custom_imports = dict(imports=['toy_task'], allow_failed_imports=False)
model = dict(type='ToyRegressor', nan_after={nan_after!r})
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=16, seed=0))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=8, seed=1))
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyMSEMetric')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={max_epochs}, val_interval={max_epochs})
# a schedule independent of max_epochs (explicit end: mmengine would default it to
# max_epochs), so a 2-epoch run resumed to 3 epochs matches a 3-epoch run
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=100, milestones=[2], gamma=0.5)]
default_hooks = dict(logger=dict(interval=1))
log_processor = dict(window_size=1)  # log each iteration's own loss
custom_hooks = {custom_hooks!r}
'''


def write_toy_config(path: Path, max_epochs: int = 2, batch_size: int = 4,
                     nan_after: int | None = None, custom_hooks=()) -> str:
    """Write a toy experiment config inheriting the real runtime and CPU schedule."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TOY_CONFIG.format(
        runtime=str(REPO / 'configs/_base_/default_runtime.py'),
        schedule=str(REPO / 'configs/_base_/schedules/cpu_short.py'),
        max_epochs=max_epochs, batch_size=batch_size, nan_after=nan_after,
        custom_hooks=list(custom_hooks)))
    return str(path)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as module ``pkd_tool_<name>`` (``tools/test.py`` would
    clash with the standard library's ``test`` package under its own name)."""
    module_name = f'pkd_tool_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO / 'tools' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def logged_train_scalars(log_dir: str) -> list:
    """The training records of ``<log_dir>/vis_data/scalars.json`` (one per logged iter)."""
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if 'loss' in r]


def oracle_predict(info_file: str, classes: list):
    """A ``BEVDetector.predict`` replacement that returns each sample's valid ground truth
    (score 1, labels remapped to ``classes``): what a perfect detector outputs, so a working
    ``tools/test.py`` must score it mAP 1 on the split."""
    import mmengine

    from perception_kd.evaluation.nuscenes_format import (
        classes_from_metainfo,
        gt_to_predictions,
    )
    data = mmengine.load(info_file)
    by_token = {info['token']: info for info in data['data_list']}
    remap = torch.tensor([list(classes).index(name)
                          for name in classes_from_metainfo(data['metainfo'])])

    def predict(self, inputs, data_samples, **kwargs):
        for sample in data_samples:
            pred = gt_to_predictions(by_token[sample.metainfo['token']])
            pred.labels_3d = remap[pred.labels_3d]
            sample.pred_instances_3d = pred
        return list(data_samples)
    return predict


def devkit_summary(out_dir) -> dict:
    """The devkit's own ``metrics_summary.json`` of a ``tools/test.py --out-json`` run."""
    with open(osp.join(out_dir, 'metrics_summary.json')) as file:
        return json.load(file)
