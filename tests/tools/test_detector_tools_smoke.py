"""Smoke test: tools/train.py and tools/test.py on the real CPU detector config and the
tiny synthetic nuScenes fixture (one training iteration on one sample, one test sample,
devkit metrics over the split). About 25 s on 2 free CPU cores.

Paths and sizes come from the command line only (--data-root, --cfg-options), as a user
would pass them; nothing in the config is edited.
"""
import json
import math
import sys
from pathlib import Path

import mmengine
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import (  # noqa: E402
    REPO,
    devkit_summary,
    load_tool,
    logged_train_scalars,
    oracle_predict,
)

from perception_kd.models.detectors import BEVDetector  # noqa: E402

CONFIG = REPO / 'configs' / 'centerpoint_lidar_cpu.py'



def _loader_options(split: str) -> list:
    return [f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False',
            f'+{split}_dataloader.dataset.indices=1']  # the split's first sample only


def test_centerpoint_cpu_trains_and_tests(tiny_root, tiny_infos, tmp_path, monkeypatch):
    work_dir = tmp_path / 'centerpoint'
    runner = load_tool('train').main(
        [str(CONFIG), '--work-dir', str(work_dir), '--data-root', tiny_root, '--cfg-options',
         'train_cfg.max_epochs=1', '+train_cfg.val_begin=2',  # no validation while training
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=1',
         *_loader_options('train')])
    assert (runner.epoch, runner.iter) == (1, 1)
    logged = logged_train_scalars(runner.log_dir)
    assert len(logged) == 1
    losses = {key: value for key, value in logged[0].items() if key.startswith('loss')}
    assert len(losses) >= 3, losses  # the total and at least two terms
    assert all(math.isfinite(value) for value in losses.values()), losses
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()

    out = tmp_path / 'results'
    metrics = load_tool('test').main(
        [str(CONFIG), str(checkpoint), '--work-dir', str(work_dir), '--data-root', tiny_root,
         '--out-json', str(out), '--cfg-options', *_loader_options('test')])
    summary = devkit_summary(out)     # the tool reports the devkit's numbers
    assert metrics['NuScenes/mAP'] == pytest.approx(summary['mean_ap'], abs=1e-6)
    assert metrics['NuScenes/NDS'] == pytest.approx(summary['nd_score'], abs=1e-6)
    results = json.loads((out / 'results_nusc.json').read_text())
    assert results['meta']['use_lidar'] is True
    val_tokens = {info['token'] for info in mmengine.load(tiny_infos['val'])['data_list']}
    assert set(results['results']) == val_tokens  # every sample of the split has an entry
    assert sum(len(boxes) > 0 for boxes in results['results'].values()) <= 1  # 1 was tested
    assert (out / 'metrics.json').is_file() and (out / 'metrics_summary.json').is_file()

    # a perfect detector (the ground truth as predictions) on the whole split: mAP 1
    classes = mmengine.Config.fromfile(str(CONFIG)).class_names
    monkeypatch.setattr(BEVDetector, 'predict', oracle_predict(tiny_infos['val'], classes))
    metrics = load_tool('test').main(
        [str(CONFIG), str(checkpoint), '--work-dir', str(work_dir), '--data-root', tiny_root,
         '--cfg-options', 'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False'])
    assert metrics['NuScenes/mAP'] > 0.999 and metrics['NuScenes/NDS'] > 0.95, metrics
