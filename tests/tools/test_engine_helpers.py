"""perception_kd.engine helpers: checkpoints, config overrides, launcher, AMP, hook registry."""
import os.path as osp
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

import perception_kd
from perception_kd.engine import (
    CheckInvalidLossHook,
    CheckpointMismatchError,
    ConfigError,
    UnknownConfigKeyError,
    check_cfg_options,
    check_checkpoint_matches,
    configure_launcher,
    enable_amp,
    explain_registry_error,
    latest_checkpoint,
    set_data_root,
    set_jsonfile_prefix,
    stale_variable_notes,
)

perception_kd.register_all_modules()

REPO = Path(__file__).resolve().parents[2]
LIDAR_DATA_CFG = str(REPO / 'configs/_base_/datasets/nuscenes_lidar.py')


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None
    for name in ('epoch_2.pth', 'epoch_10.pth'):
        torch.save({}, str(tmp_path / name))      # whole checkpoints (empty ones are skipped)
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    # a stale marker (work dir moved): fall back to the file of that name in the work dir
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/epoch_10.pth')
    with pytest.warns(UserWarning, match='outside this work dir'):
        assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text('epoch_2.pth')     # relative to the work dir
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')


def test_check_checkpoint_prefix_hint(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    torch.save(dict(state_dict={f'student.{k}': v for k, v in model.state_dict().items()},
                    meta=dict(experiment_name='distill_run')), str(tmp_path / 'distill.pth'))
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_matches(model, str(tmp_path / 'distill.pth'))
    message = str(info.value)
    assert "under the prefix 'student.'" in message
    assert 'written by experiment distill_run' in message
    # DDP's "module." prefix is removed, as mmengine does
    torch.save(dict(state_dict={f'module.{k}': v for k, v in model.state_dict().items()}),
               str(tmp_path / 'ddp.pth'))
    assert check_checkpoint_matches(model, str(tmp_path / 'ddp.pth')).ok


def test_cfg_options_on_the_dataset_config():
    cfg = Config.fromfile(LIDAR_DATA_CFG)
    ok = check_cfg_options(cfg, {'train_dataloader.dataset.pipeline.3.rot_range': [0, 0],
                                 '+train_dataloader.dataset.new_key': 1})
    assert 'train_dataloader.dataset.new_key' in ok
    with pytest.raises(UnknownConfigKeyError) as info:
        check_cfg_options(cfg, {'train_dataloader.dataset.pipeline.3.rot_rang': [0, 0],
                                'val_evaluator.versoin': 'v1.0-trainval',
                                'train_dataloader.batch_size.x': 1})
    message = str(info.value)
    assert '3 key(s) not in the config' in message
    assert "did you mean train_dataloader.dataset.pipeline.3.rot_range?" in message
    assert "did you mean val_evaluator.version?" in message
    assert 'train_dataloader.batch_size is a int, not a dict' in message


def test_data_root_variable_note_and_override(tmp_path):
    cfg = Config.fromfile(LIDAR_DATA_CFG)
    notes = stale_variable_notes(cfg, {'data_root': '/data/nuscenes/', 'version': 'v1.0-mini'})
    assert len(notes) == 2
    assert 'train_dataloader.dataset.data_root' in notes[0] and '--data-root' in notes[0]
    assert 'val_evaluator.version' in notes[1]

    changed = set_data_root(cfg, '/data/nuscenes')
    assert cfg.train_dataloader.dataset.data_root == '/data/nuscenes/'
    assert cfg.test_dataloader.dataset.data_root == '/data/nuscenes/'
    assert cfg.test_evaluator.data_root == '/data/nuscenes/'
    assert 'val_evaluator[0].data_root' in changed
    with pytest.raises(ConfigError, match='no dataset or evaluator'):
        set_data_root(Config(dict(model=dict(type='X'))), '/data')


def test_set_data_root_follows_the_root_version(tmp_path):
    """A v1.0-trainval root under a v1.0-mini config: the evaluators take the root's version
    (and an explicit eval_set its default split); a root with the config's version, or with
    no tables, keeps the config's."""
    bench = tmp_path / 'bench'
    (bench / 'v1.0-trainval').mkdir(parents=True)
    (bench / 'v1.0-trainval' / 'sample.json').write_text('[]')
    cfg = Config.fromfile(LIDAR_DATA_CFG)
    cfg.val_evaluator.eval_set = 'mini_val'
    changed = set_data_root(cfg, str(bench))
    assert cfg.val_evaluator.version == cfg.test_evaluator.version == 'v1.0-trainval'
    assert cfg.val_evaluator.eval_set == 'val' and 'eval_set' not in cfg.test_evaluator
    assert 'val_evaluator[0].version' in changed and cfg.version == 'v1.0-trainval'
    cfg = Config.fromfile(LIDAR_DATA_CFG)           # a version the user chose is kept
    cfg.val_evaluator.version = 'v1.0-mini'
    changed = set_data_root(cfg, str(bench), explicit={'val_evaluator.version': 'v1.0-mini'})
    assert cfg.val_evaluator.version == 'v1.0-mini' and 'val_evaluator[0].version' not in changed
    assert cfg.test_evaluator.version == 'v1.0-trainval'
    for root in (tmp_path / 'empty', tmp_path / 'mini'):
        (root / 'v1.0-mini').mkdir(parents=True)
        if root.name == 'mini':
            (root / 'v1.0-mini' / 'sample.json').write_text('[]')
        cfg = Config.fromfile(LIDAR_DATA_CFG)
        set_data_root(cfg, str(root))
        assert cfg.val_evaluator.version == 'v1.0-mini'


def test_jsonfile_prefix_for_the_nuscenes_metric(tmp_path):
    cfg = Config.fromfile(LIDAR_DATA_CFG)
    cfg.default_scope = 'perception_kd'
    assert set_jsonfile_prefix(cfg, 'test_evaluator', str(tmp_path)) == [str(tmp_path)]
    assert cfg.test_evaluator.jsonfile_prefix == str(tmp_path)


def test_launcher_needs_torchrun_env(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    cfg = Config(dict(model=dict(type='X')))
    assert configure_launcher(cfg, 'none') is None and cfg.launcher == 'none'
    with pytest.raises(RuntimeError, match='RANK, WORLD_SIZE.*torchrun'):
        configure_launcher(cfg, 'pytorch')


def test_enable_amp_config():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    enable_amp(cfg, device='cuda')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1))))
    enable_amp(cfg, device='cpu')
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    cfg = Config(dict(optim_wrapper=dict(type='MyWrapper', optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(ValueError, match="optim_wrapper.type is 'MyWrapper'"):
        enable_amp(cfg, device='cpu')


def test_registry_error_explanation():
    assert explain_registry_error(KeyError('token')) is None
    from perception_kd.registry import MODELS
    with DefaultScope.overwrite_default_scope('perception_kd'):
        with pytest.raises(KeyError) as info:
            MODELS.build(dict(type='BEVDetektor'))
    message = explain_registry_error(info.value)
    assert "unknown type 'BEVDetektor'" in message and 'did you mean: BEVDetector' in message


def test_check_invalid_loss_hook_shadows_mmengine():
    from mmengine.registry import HOOKS
    with DefaultScope.overwrite_default_scope('perception_kd'):
        hook = HOOKS.build(dict(type='CheckInvalidLossHook', interval=5))
    assert isinstance(hook, CheckInvalidLossHook) and hook.interval == 5
    assert osp.basename(perception_kd.engine.hooks.__file__) == 'hooks.py'


def test_cpu_autocast_wrapper_names_missing_bfloat16_kernels():
    from perception_kd.engine import CPUAutocastOptimWrapper
    model = nn.Linear(2, 1)
    wrapper = CPUAutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 2)).dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match=r'no bfloat16 CPU kernel .*without --amp'):
        with wrapper.optim_context(model):
            raise KeyError(torch.bfloat16)  # what spconv raises for bfloat16 features
    with pytest.raises(KeyError, match='token'):  # other errors pass unchanged
        with wrapper.optim_context(model):
            raise KeyError('token')
