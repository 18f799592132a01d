"""Corrupt LiDAR clouds (empty, NaN/inf) are refused, naming the file, wherever clouds are
read: ``load_points`` itself, the training pipeline, ``tools/make_ocf.py`` and the
visualiser's :class:`SampleSource`. Faults are built on a copy of the tiny tree."""
import importlib.util
import os
import os.path as osp
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from perception_kd.datasets.io import check_points_finite, load_points

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------- load_points
def test_load_points_refuses_empty_and_non_finite(tmp_path):
    empty = tmp_path / 'empty.pcd.bin'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=r'LiDAR sweep .*empty\.pcd\.bin \(sample t\) is empty'):
        load_points(str(empty), what='LiDAR sweep', context=' (sample t)')
    assert load_points(str(empty), allow_empty=True).shape == (0, 5)

    points = np.ones((6, 5), np.float32)
    points[4, 2] = np.nan
    points[5, 0] = -np.inf
    bad = tmp_path / 'nan.pcd.bin'
    points.tofile(bad)
    with pytest.raises(ValueError, match=r'nan\.pcd\.bin has 2 point\(s\) with NaN/inf .*row 4'):
        load_points(str(bad))
    assert load_points(str(bad), check_finite=False).shape == (6, 5)
    check_points_finite(points[:4], 'fine')        # no error
    with pytest.raises(ValueError, match='^cloud X has 1 point'):
        check_points_finite(points[:5], 'cloud X')


# ------------------------------------------------------------------- on the tiny tree
def _copy_root(tiny_root: str, tiny_infos: dict, dst: Path) -> str:
    """The tiny tree under ``dst`` with its own LiDAR clouds (keyframes and sweeps) and info
    files; tables and images are symlinked."""
    dst.mkdir(parents=True)
    os.symlink(osp.join(tiny_root, 'v1.0-mini'), dst / 'v1.0-mini')
    (dst / 'samples').mkdir()
    for name in os.listdir(osp.join(tiny_root, 'samples')):
        if name != 'LIDAR_TOP':
            os.symlink(osp.join(tiny_root, 'samples', name), dst / 'samples' / name)
    shutil.copytree(osp.join(tiny_root, 'samples', 'LIDAR_TOP'), dst / 'samples' / 'LIDAR_TOP')
    shutil.copytree(osp.join(tiny_root, 'sweeps'), dst / 'sweeps')
    for path in tiny_infos.values():
        shutil.copy(path, dst / osp.basename(path))
    return str(dst)


@pytest.fixture
def faulty(tiny_root, tiny_infos, tmp_path):
    """(root, first train info, its keyframe path, its first sweep path) of a fresh copy."""
    from perception_kd.datasets.io import load_info_file
    root = _copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    info = load_info_file(osp.join(root, 'nuscenes_infos_train.pkl'))['data_list'][1]
    assert any(inst['num_lidar_pts'] > 0 for inst in info['instances'])
    keyframe = osp.join(root, 'samples', 'LIDAR_TOP', info['lidar_points']['lidar_path'])
    sweep = osp.join(root, info['lidar_sweeps'][0]['lidar_points']['lidar_path'])
    assert osp.isfile(keyframe) and osp.isfile(sweep)
    return root, info, keyframe, sweep


def _make_nan(path: str) -> None:
    points = np.fromfile(path, np.float32).reshape(-1, 5)
    points[7, 1] = np.nan
    points[9, 3] = np.inf
    points.tofile(path)


def _training_sample(root: str, index: int = 1):
    from perception_kd.datasets import NuScenesDataset
    pipeline = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                dict(type='LoadPointsFromMultiSweeps', sweeps_num=3)]
    dataset = NuScenesDataset(root, 'nuscenes_infos_train.pkl', pipeline=pipeline,
                              filter_empty_gt=False)
    return dataset[index]


@pytest.mark.parametrize('fault', ['empty', 'nan'])
@pytest.mark.parametrize('which', ['keyframe', 'sweep'])
def test_training_pipeline_refuses_corrupt_clouds(faulty, fault, which):
    root, info, keyframe, sweep = faulty
    assert len(_training_sample(root)['points']) > 0        # the clean copy loads
    path = keyframe if which == 'keyframe' else sweep
    if fault == 'empty':
        open(path, 'wb').close()
    else:
        _make_nan(path)
    kind = 'LiDAR keyframe' if which == 'keyframe' else 'LiDAR sweep'
    reason = 'is empty' if fault == 'empty' else r'has 2 point\(s\) with NaN/inf'
    with pytest.raises(ValueError, match=rf'{kind} .*{re.escape(osp.basename(path))} \(sample '
                                         rf'{info["token"]}\) {reason}'):
        _training_sample(root)


def _load_make_ocf_tool():
    spec = importlib.util.spec_from_file_location('pkd_tool_make_ocf_corrupt',
                                                  REPO / 'tools' / 'make_ocf.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('fault', ['empty', 'nan'])
def test_make_ocf_refuses_corrupt_keyframe(faulty, fault):
    root, info, keyframe, _ = faulty
    if fault == 'empty':
        open(keyframe, 'wb').close()
    else:
        _make_nan(keyframe)
    tool = _load_make_ocf_tool()
    with pytest.raises(SystemExit) as exc:
        tool.main([root, '--scenes', 'scene-0061', '--no-progress'])
    assert exc.value.code == 2
    message = str(exc.value)
    assert f'raw LiDAR cloud {keyframe}' in message, message
    assert ('is empty' if fault == 'empty' else 'NaN/inf') in message
    out = osp.join(root, 'samples', 'LIDAR_TOP_OCF')       # nothing half-made left behind
    assert not [name for name in os.listdir(out) if name.endswith('.tmp')] \
        if osp.isdir(out) else True
    assert not list(Path(root).glob('*_ocf.pkl'))


@pytest.mark.parametrize('fault', ['empty', 'nan'])
def test_visualiser_refuses_corrupt_clouds(faulty, fault):
    from perception_kd.visualization import SampleSource
    root, info, keyframe, sweep = faulty
    source = SampleSource.from_info_file(osp.join(root, 'nuscenes_infos_train.pkl'), root)
    index = source.tokens.index(info['token'])
    assert len(source.load(index, sweeps=3).points) > 0
    for path in (sweep, keyframe):
        if fault == 'empty':
            open(path, 'wb').close()
        else:
            _make_nan(path)
        with pytest.raises(ValueError, match=rf'{re.escape(osp.basename(path))} .*'
                                             f'{"is empty" if fault == "empty" else "NaN/inf"}'):
            source.load(index, sweeps=3)
