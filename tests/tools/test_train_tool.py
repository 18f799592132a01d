"""tools/train.py in-process on the toy task: train, resume, config errors, AMP, NaN loss."""
import os.path as osp
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import load_tool, logged_train_scalars, write_toy_config  # noqa: E402

train = load_tool('train')


def _losses(records):
    return [(r['epoch'], r['iter'], r['loss'], r['loss_mse'], r['loss_l1']) for r in records]


def _weights(runner):
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def test_resume_continues_the_loss_curve(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=2)
    work_dir = str(tmp_path / 'run')
    first = train.main([cfg, '--work-dir', work_dir])
    assert (first.epoch, first.iter) == (2, 8)
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

    time.sleep(1.1)   # the Runner names its log dir by the second: keep the two runs' logs apart
    resumed = train.main([cfg, '--work-dir', work_dir, '--resume',
                          '--cfg-options', 'train_cfg.max_epochs=3'])
    straight = train.main([cfg, '--work-dir', str(tmp_path / 'straight'),
                           '--cfg-options', 'train_cfg.max_epochs=3'])
    assert (resumed.epoch, resumed.iter) == (3, 12)

    first_log = logged_train_scalars(first.log_dir)
    resumed_log = logged_train_scalars(resumed.log_dir)
    straight_log = logged_train_scalars(straight.log_dir)
    assert [r['epoch'] for r in resumed_log] == [3] * 4  # continues at epoch 3
    assert [r['step'] for r in resumed_log] == [9, 10, 11, 12]
    assert len(straight_log) == 12
    ours = _losses(first_log + resumed_log)
    theirs = _losses(straight_log)
    assert [o[:2] for o in ours] == [t[:2] for t in theirs]
    for o, t in zip(ours, theirs):
        assert o[2:] == pytest.approx(t[2:], rel=1e-6, abs=1e-7)
    straight_weights = _weights(straight)
    for key, value in _weights(resumed).items():
        torch.testing.assert_close(value, straight_weights[key])

    # --resume CKPT: from an explicit checkpoint, into another work dir
    from_one = train.main([cfg, '--work-dir', str(tmp_path / 'from_epoch_1'),
                           '--resume', osp.join(work_dir, 'epoch_1.pth')])
    assert [r['step'] for r in logged_train_scalars(from_one.log_dir)] == [5, 6, 7, 8]
    first_weights = torch.load(osp.join(work_dir, 'epoch_2.pth'))['state_dict']
    for key, value in _weights(from_one).items():
        torch.testing.assert_close(value, first_weights[key])


def test_resume_without_checkpoint_is_an_error(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py')
    with pytest.raises(SystemExit, match=r'--resume: no checkpoint in .*empty'):
        train.main([cfg, '--work-dir', str(tmp_path / 'empty'), '--resume'])
    with pytest.raises(SystemExit, match=r'checkpoint .*nope\.pth not found'):
        train.main([cfg, '--resume', str(tmp_path / 'nope.pth')])


def test_load_from_starts_from_the_checkpoint_and_names_a_missing_one(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=1)
    first = train.main([cfg, '--work-dir', str(tmp_path / 'first')])
    ckpt = osp.join(str(tmp_path / 'first'), 'epoch_1.pth')
    # load_from: weights only, a new run (epoch 1 again), starting from those weights
    started = train.main([cfg, '--work-dir', str(tmp_path / 'second'),
                          '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_epochs=0'])
    assert started.iter == 0
    for key, value in _weights(first).items():
        torch.testing.assert_close(_weights(started)[key], value)
    with pytest.raises(SystemExit, match=r'load_from: checkpoint .*nope\.pth not found.*'
                       r'load_from=None'):
        train.main([cfg, '--cfg-options', f'load_from={tmp_path / "nope.pth"}'])


def test_missing_config_file(tmp_path):
    with pytest.raises(SystemExit, match=r'config file .*missing\.py not found'):
        train.main([str(tmp_path / 'missing.py')])


def test_unknown_cfg_option_keys_are_named(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py')
    with pytest.raises(SystemExit) as info:
        train.main([cfg, '--cfg-options', 'optim_wrapper.optimizer.lrr=0.1',
                    'train_cfg.max_epoch=1', 'train_dataloader.dataset.num_samples=4'])
    message = str(info.value)
    assert 'optim_wrapper.optimizer.lrr' in message
    assert 'did you mean optim_wrapper.optimizer.lr?' in message
    assert 'train_cfg.max_epoch' in message and 'train_cfg.max_epochs' in message
    assert 'num_samples' not in message  # an existing key is fine
    assert '+KEY=VALUE' in message


def test_new_keys_with_plus_or_allow_new(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py')
    config = train.build_config(train.parse_args(
        [cfg, '--cfg-options', '+model.hidden=16', 'train_dataloader.sampler.seed=3']))
    assert config.model.hidden == 16 and config.train_dataloader.sampler.seed == 3
    config = train.build_config(train.parse_args(
        [cfg, '--allow-new', '--cfg-options', 'model.hidden=16']))
    assert config.model.hidden == 16
    # list items by index
    config = train.build_config(train.parse_args(
        [cfg, '--cfg-options', 'param_scheduler.0.gamma=0.25']))
    assert config.param_scheduler[0].gamma == 0.25
    with pytest.raises(train.ConfigError, match=r'param_scheduler.*list of 1 items, \'3\''):
        train.build_config(train.parse_args([cfg, '--cfg-options', 'param_scheduler.3.gamma=1']))


def test_defaults_work_dir_seed_and_resume_flags(tmp_path):
    cfg = write_toy_config(tmp_path / 'my_experiment.py')
    config = train.build_config(train.parse_args([cfg, '--seed', '7']))
    assert config.work_dir == osp.join('work_dirs', 'my_experiment')
    assert config.randomness.seed == 7
    assert config.default_scope == 'perception_kd'
    assert config.resume is False and config.load_from is None


def test_unknown_model_type_names_type_and_scope(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py')
    with pytest.raises(SystemExit) as info:
        train.main([cfg, '--work-dir', str(tmp_path / 'run'),
                    '--cfg-options', 'model.type=ToyRegresor'])
    message = str(info.value)
    assert "unknown type 'ToyRegresor'" in message
    assert "model registry of scope 'perception_kd'" in message
    assert 'did you mean: ToyRegressor' in message
    assert 'set at: model.type' in message


def test_amp_on_cpu_trains_with_bfloat16_autocast(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=1)
    runner = train.main([cfg, '--work-dir', str(tmp_path / 'amp'), '--amp'])
    assert type(runner.optim_wrapper).__name__ == 'CPUAutocastOptimWrapper'
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    losses = [r['loss'] for r in logged_train_scalars(runner.log_dir)]
    assert len(losses) == 4 and all(l == l and abs(l) < 1e6 for l in losses)


def test_nan_loss_stops_with_iteration_and_terms(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=3, nan_after=5)
    work_dir = tmp_path / 'nan'
    with pytest.raises(SystemExit) as info:
        train.main([cfg, '--work-dir', str(work_dir)])
    message = str(info.value)
    assert 'non-finite loss at iteration 6 (epoch 2, batch 2/4)' in message
    assert 'loss_mse=nan' in message and 'loss=nan' in message
    assert 'finite: loss_l1=' in message
    assert 'epoch_1.pth' in message  # the last good checkpoint
    assert not (work_dir / 'epoch_2.pth').exists()
