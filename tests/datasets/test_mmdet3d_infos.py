"""mmdet3d-made info files in the project's pipeline, without mmdet3d installed.

mmdet3d 1.x's converter (``update_infos_to_v2``) differs from our infos in three ways that
matter for sweeps: a sweep's path is the one its first converter stored, relative to where
it ran (``./data/nuscenes/sweeps/LIDAR_TOP/<file>``), its ``lidar2sensor`` lives in
``lidar_points`` only (float32), and a sample without sweeps has no ``lidar_sweeps`` key.
Here such infos are built by hand from ours and must give the same samples, boxes and
points. (tests/interop/ runs mmdet3d's own converter when the extra is installed.)
"""
import copy
import os.path as osp
import pickle

import numpy as np
import pytest

from perception_kd.constants import resolve_sweep_path
from perception_kd.datasets import NuScenesDataset
from perception_kd.datasets.infos import create_nuscenes_infos

PIPELINE = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
            dict(type='LoadPointsFromMultiSweeps', sweeps_num=6, remove_close=False,
                 test_mode=True),
            dict(type='LoadAnnotations3D')]


def mmdet3d_style(data: dict, where: str = './data/nuscenes') -> dict:
    """Our infos rewritten in the layout mmdet3d's converter writes (see the docstring)."""
    data = copy.deepcopy(data)
    for info in data['data_list']:
        for key in ('scene_token', 'prev', 'next', 'lidarseg_path', 'ocf_path'):
            info.pop(key, None)   # ours only
        for sweep in info.get('lidar_sweeps', []):
            points = sweep['lidar_points']
            points['lidar_path'] = f'{where}/{points["lidar_path"]}'
            points['lidar2sensor'] = np.asarray(sweep.pop('lidar2sensor'),
                                                np.float32).tolist()
    return data


@pytest.fixture(scope='module')
def long_infos(tiny_root, tmp_path_factory):
    """Our val infos with 6 sweeps, so that some sweeps are earlier keyframes (samples/)."""
    out = tmp_path_factory.mktemp('infos6')
    return create_nuscenes_infos(tiny_root, version='v1.0-mini', out_dir=str(out),
                                 max_sweeps=6, progress=False)['val']


def _load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


def test_resolve_sweep_path():
    pts, sweeps = '/r/samples/LIDAR_TOP', '/r/sweeps/LIDAR_TOP'
    assert resolve_sweep_path('sweeps/LIDAR_TOP/a.bin', pts, sweeps) == '/r/sweeps/LIDAR_TOP/a.bin'
    assert resolve_sweep_path('samples/LIDAR_TOP/b.bin', pts, sweeps) == \
        '/r/samples/LIDAR_TOP/b.bin'
    assert resolve_sweep_path('./data/nuscenes/sweeps/LIDAR_TOP/a.bin', pts, sweeps) == \
        '/r/sweeps/LIDAR_TOP/a.bin'
    assert resolve_sweep_path('../x/nuscenes/samples/LIDAR_TOP/b.bin', pts, sweeps) == \
        '/r/samples/LIDAR_TOP/b.bin'
    assert resolve_sweep_path('a.bin', pts, sweeps) == '/r/sweeps/LIDAR_TOP/a.bin'
    assert resolve_sweep_path('/abs/sweeps/a.bin', pts, sweeps) == '/abs/sweeps/a.bin'
    # a folder merely containing the word is not the keyframe folder
    assert resolve_sweep_path('mysamples/LIDAR_TOP/a.bin', pts, sweeps) == \
        '/r/sweeps/LIDAR_TOP/a.bin'


@pytest.mark.parametrize('where', ['./data/nuscenes', '/elsewhere/nuscenes'])
def test_mmdet3d_style_infos_give_the_same_points(tiny_root, long_infos, tmp_path, where):
    ours = _load(long_infos)
    theirs = mmdet3d_style(ours, where=where)
    kinds = {s['lidar_points']['lidar_path'].split('/')[-3]
             for i in ours['data_list'] for s in i.get('lidar_sweeps', [])}
    assert kinds == {'samples', 'sweeps'}   # both prefixes are exercised
    assert any('lidar_sweeps' not in i for i in theirs['data_list'])
    path = tmp_path / 'mmdet3d_infos_val.pkl'
    with open(path, 'wb') as f:
        pickle.dump(theirs, f)
    if where.startswith('/'):   # an absolute path of another machine is used as is
        with pytest.raises(FileNotFoundError):
            NuScenesDataset(data_root=tiny_root, ann_file=str(path), pipeline=PIPELINE,
                            test_mode=True)[1]
        return
    a = NuScenesDataset(data_root=tiny_root, ann_file=long_infos, pipeline=PIPELINE,
                        test_mode=True)
    b = NuScenesDataset(data_root=tiny_root, ann_file=str(path), pipeline=PIPELINE,
                        test_mode=True)
    assert len(a) == len(b) == 4
    seen_sweeps = 0
    for idx in range(len(a)):
        ra, rb = a[idx], b[idx]
        assert ra['token'] == rb['token']
        assert ra['lidar_path'] == rb['lidar_path']
        assert [s['lidar_points']['lidar_path'] for s in ra['lidar_sweeps']] == \
            [s['lidar_points']['lidar_path'] for s in rb['lidar_sweeps']]
        np.testing.assert_array_equal(ra['gt_bboxes_3d'], rb['gt_bboxes_3d'])
        np.testing.assert_array_equal(ra['gt_labels_3d'], rb['gt_labels_3d'])
        assert ra['points'].shape == rb['points'].shape
        # float32 lidar2sensor in mmdet3d's infos: sub-millimetre differences at most
        np.testing.assert_allclose(ra['points'], rb['points'], atol=2e-4, rtol=0)
        seen_sweeps += len(ra['lidar_sweeps'])
        if not ra['lidar_sweeps']:   # padded with 6 copies of the keyframe in both
            num = len(ra['points']) // 7
            assert num * 7 == len(ra['points']) and (ra['points'][:, 4] == 0).all()
            np.testing.assert_array_equal(ra['points'][-num:], ra['points'][:num])
    assert seen_sweeps > 6


def test_sweep_lidar2sensor_location(tiny_root, long_infos, tmp_path):
    """Either location is read; none gives a clear error naming the sweep."""
    data = _load(long_infos)
    info = next(i for i in data['data_list'] if i.get('lidar_sweeps'))
    for sweep in info['lidar_sweeps']:
        del sweep['lidar_points']['lidar2sensor']   # ours only at the top level
    data['data_list'] = [info]
    path = tmp_path / 'top_level_only.pkl'
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    ref = NuScenesDataset(data_root=tiny_root, ann_file=long_infos, pipeline=PIPELINE,
                          test_mode=True)
    idx = [ref.get_data_info(i)['token'] for i in range(len(ref))].index(info['token'])
    ds = NuScenesDataset(data_root=tiny_root, ann_file=str(path), pipeline=PIPELINE,
                         test_mode=True)
    np.testing.assert_array_equal(ds[0]['points'], ref[idx]['points'])
    del info['lidar_sweeps'][0]['lidar2sensor']
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    ds = NuScenesDataset(data_root=tiny_root, ann_file=str(path), pipeline=PIPELINE,
                         test_mode=True)
    with pytest.raises(KeyError, match=info['lidar_sweeps'][0]['sample_data_token']):
        ds[0]
    assert osp.isfile(ds.get_data_info(0)['lidar_sweeps'][0]['lidar_points']['lidar_path'])
