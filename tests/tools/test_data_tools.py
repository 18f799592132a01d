"""tools/check_dataset.py and the tools/make_synthetic.py command line on tiny data."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, load_tool  # noqa: E402

LIDAR_DATA = REPO / 'configs' / '_base_' / 'datasets' / 'nuscenes_lidar.py'


def test_check_dataset_scores_the_ground_truth(tiny_root, tiny_infos, capsys):
    tool = load_tool('check_dataset')
    tool.main([str(LIDAR_DATA), '--data-root', tiny_root, '--num-workers', '0',
               '--min-map', '0.99'])
    out = capsys.readouterr().out
    assert '[1/3] NuScenesDataset (val): 4 samples' in out
    assert 'points: 1 x' in out and 'check_dataset: OK' in out
    # the tiny val scene has every class: its ground truth scores AP 1 on each
    line = next(line for line in out.splitlines() if 'NuScenes/mAP' in line)
    assert float(line.split(':')[-1]) > 0.999, out
    with pytest.raises(SystemExit, match='FAILED: ground truth as predictions scores mAP'):
        tool.main([str(LIDAR_DATA), '--data-root', tiny_root, '--num-workers', '0',
                   '--min-map', '1.01'])


def test_check_dataset_errors(tiny_root, tmp_path):
    tool = load_tool('check_dataset')
    empty = tmp_path / 'empty.py'
    empty.write_text('x = 1\n')
    with pytest.raises(SystemExit, match='has no val_dataloader') as info:
        tool.main([str(empty)])
    assert info.value.code == 2                                     # not 1: that is --min-map


def test_make_synthetic_cli(tmp_path, capsys):
    tool = load_tool('make_synthetic')
    out = tmp_path / 'synth'
    args = ['--out', str(out), '--scenes', '1', '--keyframes', '2', '--lidar-hz', '2',
            '--image-size', '64x36', '--beams', '8', '--workers', '1', '--no-lidarseg']
    tool.main(args)
    assert f'wrote {out} (v1.0-mini): 1 scenes, 2 samples' in capsys.readouterr().out
    samples = json.loads((out / 'v1.0-mini' / 'sample.json').read_text())
    assert len(samples) == 2
    assert not (out / 'lidarseg').exists()
    images = list((out / 'samples' / 'CAM_FRONT').iterdir())
    assert len(images) == 2
    from PIL import Image
    assert Image.open(images[0]).size == (64, 36)
    with pytest.raises(SystemExit, match='make_synthetic.py: error: ') as info:  # no --overwrite
        tool.main(args)
    assert info.value.code == 2
    tool.main(args + ['--overwrite'])
    with pytest.raises(SystemExit):                                 # argparse: exit 2
        tool.main(['--out', str(out), '--image-size', '64by36'])
    assert 'image size must look like 800x450' in capsys.readouterr().err
