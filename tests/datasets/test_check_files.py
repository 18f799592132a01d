"""``tools/create_data.py --check`` (issue 14, point 6): every keyframe cloud, sweep cloud and
camera image the info files point to is read once, and every bad file is listed with its
reason in one report, exit status 1. Faults are built on a copy of the tiny tree."""
import os
import os.path as osp
import shutil
from pathlib import Path

import numpy as np
import pytest

from perception_kd.datasets.check import check_files, cloud_problem, image_problem
from perception_kd.datasets.io import load_info_file


@pytest.fixture
def root(tiny_root, tiny_infos, tmp_path):
    """A copy of the tiny tree with its own clouds and CAM_FRONT images (the rest linked)."""
    dst = tmp_path / 'root'
    (dst / 'samples').mkdir(parents=True)
    for name in os.listdir(tiny_root):
        if name not in ('samples', 'sweeps') and not name.endswith('.pkl'):
            os.symlink(osp.join(tiny_root, name), dst / name)
    for name in os.listdir(osp.join(tiny_root, 'samples')):
        src = osp.join(tiny_root, 'samples', name)
        if name in ('LIDAR_TOP', 'CAM_FRONT'):
            shutil.copytree(src, dst / 'samples' / name)
        else:
            os.symlink(src, dst / 'samples' / name)
    shutil.copytree(osp.join(tiny_root, 'sweeps'), dst / 'sweeps')
    return dst


def _create_data():
    from tools.create_data import main
    return main


def test_clean_tree_reads_every_file_once(root, capsys):
    paths = _create_data()([str(root), '--max-sweeps', '3', '--check', '--no-progress'])
    out = capsys.readouterr().out
    infos = [info for path in paths.values() for info in load_info_file(path)['data_list']]
    sweeps = {s['lidar_points']['lidar_path']
              for info in infos for s in info.get('lidar_sweeps', [])}
    images = sum(len(info['images']) for info in infos)
    assert len(infos) == 8 and len(sweeps) > 8 and images == 48
    assert (f'checked {len(infos)} keyframe clouds, {len(sweeps)} sweep clouds, {images} images '
            'of nuscenes_infos_train.pkl, nuscenes_infos_val.pkl: all readable') in out


def test_every_bad_file_is_listed_with_its_reason(root, capsys):
    main = _create_data()
    paths = main([str(root), '--max-sweeps', '3', '--no-progress'])
    infos = load_info_file(paths['train'])['data_list']
    keyframes = [root / 'samples' / 'LIDAR_TOP' / i['lidar_points']['lidar_path'] for i in infos]
    sweeps = [root / s['lidar_points']['lidar_path'] for s in infos[2]['lidar_sweeps']]
    cams = [root / 'samples' / 'CAM_FRONT' / i['images']['CAM_FRONT']['img_path']
            for i in infos]
    keyframes[0].write_bytes(b'')                                    # empty
    data = keyframes[1].read_bytes()
    keyframes[1].write_bytes(data[:len(data) - 7])                   # truncated
    points = np.fromfile(keyframes[2], np.float32).reshape(-1, 5)
    points[[3, 11], 2] = [np.nan, np.inf]
    points.tofile(keyframes[2])                                      # non-finite
    sweeps[0].unlink()                                               # missing
    jpeg = cams[0].read_bytes()
    cams[0].write_bytes(jpeg[:len(jpeg) // 2])                       # truncated JPEG
    cams[1].write_bytes(b'not a jpeg at all' * 10)                   # not an image

    with pytest.raises(SystemExit) as info:
        main([str(root), '--max-sweeps', '3', '--check', '--no-progress'])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == str(info.value) and '6 bad file(s)' in str(info.value)
    lines = captured.out.splitlines()
    assert lines[-7].endswith(': 6 bad file(s)')
    listed = {line.split(': ')[0].strip(): line for line in lines[-6:]}
    assert listed == {
        str(keyframes[0]): f'  {keyframes[0]}: keyframe cloud: empty (0 bytes)',
        str(keyframes[1]): f'  {keyframes[1]}: keyframe cloud: size {len(data) - 7} bytes is '
                           'not a multiple of 20 (truncated)',
        str(keyframes[2]): f'  {keyframes[2]}: keyframe cloud: non-finite values: 2 point(s) '
                           'with NaN/inf (first: row 3)',
        str(sweeps[0]): f'  {sweeps[0]}: sweep cloud: missing',
        str(cams[0]): listed.get(str(cams[0])),
        str(cams[1]): f'  {cams[1]}: image: undecodable (not an image)'}
    assert listed[str(cams[0])].startswith(f'  {cams[0]}: image: undecodable (image file is '
                                           'truncated')

    report = check_files([paths['train']], str(root), images=False, progress=False)
    assert report.checked['image'] == 0
    assert {Path(p.path) for p in report.problems} == {*keyframes[:3], sweeps[0]}


def test_single_file_checks(tmp_path):
    good = tmp_path / 'good.pcd.bin'
    np.zeros((4, 5), np.float32).tofile(good)
    assert cloud_problem(str(good)) is None
    assert cloud_problem(str(good), load_dim=3) == 'size 80 bytes is not a multiple of 12 ' \
                                                   '(truncated)'
    assert cloud_problem(str(tmp_path / 'nope.bin')) == 'missing'
    assert image_problem(str(good)) == 'undecodable (not an image)'
