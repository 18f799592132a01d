"""tools/test.py in-process on the toy task: metrics and results files, checkpoint checks."""
import json
import os.path as osp
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import load_tool, write_toy_config  # noqa: E402

test_tool = load_tool('test')
train = load_tool('train')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A toy config and the checkpoint of one training epoch."""
    root = tmp_path_factory.mktemp('toy_test_tool')
    cfg = write_toy_config(root / 'toy.py', max_epochs=1)
    train.main([cfg, '--work-dir', str(root / 'run')])
    return cfg, str(root / 'run' / 'epoch_1.pth'), root


def test_metrics_and_results_files(trained, tmp_path):
    cfg, ckpt, _ = trained
    out = tmp_path / 'out'
    metrics = test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path / 'wd'),
                              '--out-json', str(out)])
    assert set(metrics) == {'toy/mse'} and 0 <= metrics['toy/mse'] < 100
    # the metric wrote its results under --out-json (its jsonfile_prefix)
    assert len(json.loads((out / 'predictions.json').read_text())) == 8
    saved = json.loads((out / 'metrics.json').read_text())
    assert saved['metrics'] == pytest.approx(metrics) and saved['checkpoint'] == ckpt


def test_default_results_dir_is_named_after_the_checkpoint(trained, tmp_path):
    cfg, ckpt, _ = trained
    test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path)])
    assert (tmp_path / 'results_epoch_1' / 'predictions.json').is_file()
    assert (tmp_path / 'results_epoch_1' / 'metrics.json').is_file()


def test_checkpoint_of_another_model_lists_the_keys(trained, tmp_path):
    cfg, ckpt, _ = trained
    # a wider model: every weight of the hidden layer changes shape
    with pytest.raises(SystemExit) as info:
        test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path), '--cfg-options',
                        '+model.hidden=16'])
    message = str(info.value)
    assert f'checkpoint {ckpt} does not match the model ToyRegressor' in message
    assert 'net.0.weight: (8, 4) vs (16, 4)' in message
    assert 'net.2.weight: (1, 8) vs (1, 16)' in message
    assert not (tmp_path / 'results_epoch_1').exists()  # nothing was evaluated

    # missing and unexpected keys
    state = torch.load(ckpt)
    state['state_dict'].pop('net.2.bias')
    state['state_dict']['head.extra.weight'] = torch.zeros(3)
    edited = str(tmp_path / 'edited.pth')
    torch.save(state, edited)
    with pytest.raises(SystemExit) as info:
        test_tool.main([cfg, edited, '--work-dir', str(tmp_path)])
    message = str(info.value)
    assert '1 key(s) missing in the checkpoint (the model has them):\n  net.2.bias' in message
    assert '1 key(s) unexpected in the checkpoint (the model lacks them):\n  head.extra.weight' \
        in message


def test_missing_checkpoint_and_test_split(trained, tmp_path):
    cfg, _, _ = trained
    with pytest.raises(SystemExit, match=r'checkpoint .*nope\.pth not found'):
        test_tool.main([cfg, str(tmp_path / 'nope.pth')])
    no_test = tmp_path / 'no_test.py'
    no_test.write_text(Path(cfg).read_text() + '\ntest_dataloader = None\n')
    with pytest.raises(SystemExit, match='has no test_dataloader'):
        test_tool.main([str(no_test), str(tmp_path / 'nope.pth')])


def test_unknown_option_key(trained):
    cfg, ckpt, _ = trained
    with pytest.raises(SystemExit, match=r"test_dataloader has no key 'batchsize' "
                                         r'\(did you mean test_dataloader.batch_size\?\)'):
        test_tool.main([cfg, ckpt, '--cfg-options', 'test_dataloader.batchsize=2'])
    assert osp.isfile(ckpt)


def test_show_dir_adds_the_visualisation_hook(trained, tmp_path):
    cfg, ckpt, _ = trained
    config, _ = test_tool.build_config(
        test_tool.parse_args(
            [
                cfg,
                ckpt,
                '--work-dir',
                str(tmp_path),
                '--show-dir',
                str(tmp_path / 'vis'),
                '--show-num',
                '3',
            ]
        )
    )
    hooks = [h for h in config.custom_hooks if h['type'] == 'Det3DVisualizationHook']
    assert hooks == [
        dict(type='Det3DVisualizationHook', out_dir=str(tmp_path / 'vis'), num_samples=3)
    ]
    config, _ = test_tool.build_config(
        test_tool.parse_args([cfg, ckpt, '--work-dir', str(tmp_path)])
    )
    assert not any(h['type'] == 'Det3DVisualizationHook' for h in config.get('custom_hooks') or [])
