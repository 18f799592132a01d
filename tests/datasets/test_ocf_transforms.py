"""Pipeline steps around the Object-Complete Frame cloud ``ocf_points`` (hand-made files)."""
import numpy as np
import pytest
import torch

from perception_kd.datasets.transforms import (
    BEVAugmentation,
    LoadOCFPoints,
    LoadPointsFromFile,
    LoadPointsFromMultiSweeps,
    Pack3DDetInputs,
    PointShuffle,
    PointsRangeFilter,
    build_pipeline,
)
from perception_kd.registry import TRANSFORMS
from perception_kd.structures import make_transform, transform_points, yaw_to_quat


def cloud(rng, n, offset=0.0):
    xyz = rng.uniform(-30, 30, (n, 3)) * [1, 1, 0.1] + offset
    return np.concatenate([xyz, rng.uniform(0, 1, (n, 1)), rng.integers(0, 32, (n, 1))],
                          1).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """A keyframe, its OCF (the keyframe + 50 object points) and one sweep, on disk."""
    rng = np.random.default_rng(0)
    key = cloud(rng, 200)
    ocf = np.concatenate([key, cloud(rng, 50, offset=5.0)])
    sweep = cloud(rng, 80)
    paths = {}
    for name, points in (('key', key), ('ocf', ocf), ('sweep', sweep)):
        paths[name] = str(tmp_path / f'{name}.pcd.bin')
        points.tofile(paths[name])
    lidar2sensor = make_transform(yaw_to_quat(0.1), [2.0, 0.5, 0.0])
    results = dict(token='s0', timestamp=10.0, lidar_path=paths['key'], ocf_path=paths['ocf'],
                   lidar_sweeps=[dict(lidar_points=dict(lidar_path=paths['sweep']),
                                      timestamp=9.95, lidar2sensor=lidar2sensor.tolist())])
    return results, key, ocf, sweep, lidar2sensor


def test_load_ocf_points(files):
    results, _, ocf, _, _ = files
    assert TRANSFORMS.get('LoadOCFPoints') is LoadOCFPoints
    out = LoadOCFPoints()(dict(results))
    assert out['ocf_points'].dtype == np.float32
    np.testing.assert_array_equal(out['ocf_points'], ocf)
    out = LoadOCFPoints(load_dim=5, use_dim=[0, 1, 2, 3])(dict(results))
    np.testing.assert_array_equal(out['ocf_points'], ocf[:, :4])


def test_load_ocf_points_errors(files, tmp_path):
    results, *_ = files
    with pytest.raises(KeyError, match=r'no ocf_path.*make_ocf\.py.*_ocf\.pkl'):
        LoadOCFPoints()(dict(results, ocf_path=None))
    with pytest.raises(FileNotFoundError, match='gone.pcd.bin'):
        LoadOCFPoints()(dict(results, ocf_path=str(tmp_path / 'gone.pcd.bin')))


def test_sweeps_are_merged_into_both_clouds(files):
    results, key, ocf, sweep, lidar2sensor = files
    steps = build_pipeline([dict(type='LoadPointsFromFile'), dict(type='LoadOCFPoints'),
                            dict(type='LoadPointsFromMultiSweeps', sweeps_num=1,
                                 remove_close=False, test_mode=True)])
    out = dict(results)
    for step in steps:
        out = step(out)
    moved = transform_points(np.linalg.inv(lidar2sensor), sweep)
    np.testing.assert_allclose(out['points'][200:, :3], moved[:, :3], atol=1e-4)
    np.testing.assert_array_equal(out['ocf_points'][:250, :4], ocf[:, :4])
    np.testing.assert_array_equal(out['ocf_points'][250:], out['points'][200:])
    assert (out['ocf_points'][:250, 4] == 0).all()                   # keyframe time lag
    np.testing.assert_allclose(out['ocf_points'][250:, 4], 0.05, atol=1e-6)
    # no sweeps: both clouds padded with their own keyframe
    padded = LoadPointsFromMultiSweeps(sweeps_num=2, remove_close=False)(
        dict(points=key.copy(), ocf_points=ocf.copy(), lidar_sweeps=[], timestamp=1.0))
    assert len(padded['points']) == 600 and len(padded['ocf_points']) == 750
    # only the listed extra clouds
    plain = LoadPointsFromMultiSweeps(sweeps_num=1, extra_point_keys=())(
        LoadOCFPoints()(LoadPointsFromFile()(dict(results))))
    np.testing.assert_array_equal(plain['ocf_points'], ocf)
    with pytest.raises(ValueError, match='ocf_points with 5 columns.*LoadOCFPoints'):
        LoadPointsFromMultiSweeps()(dict(points=key, ocf_points=ocf[:, :4], lidar_sweeps=[]))


def test_augmentation_filter_shuffle_and_packing_cover_ocf_points(files):
    results, key, ocf, _, _ = files
    out = LoadOCFPoints()(LoadPointsFromFile()(dict(results)))
    np.random.seed(3)
    out = BEVAugmentation(rot_range=(0.5, 0.5), scale_range=(1.1, 1.1), flip_x_prob=1.0)(out)
    np.testing.assert_allclose(out['ocf_points'][:200], out['points'], atol=1e-5)
    np.testing.assert_allclose(out['ocf_points'][:, :3],
                               transform_points(out['bda_mat'], ocf)[:, :3], atol=1e-4)
    pcr = [-20, -20, -5, 20, 20, 3]
    out = PointsRangeFilter(pcr)(out)
    for name in ('points', 'ocf_points'):
        xyz = out[name][:, :3]
        assert ((xyz > pcr[:3]) & (xyz < pcr[3:])).all() and 0 < len(xyz)
    before = out['ocf_points'].copy()
    np.random.seed(0)
    out = PointShuffle()(out)
    assert not np.array_equal(out['ocf_points'], before)
    np.testing.assert_array_equal(np.sort(out['ocf_points'], 0), np.sort(before, 0))
    packed = Pack3DDetInputs(keys=('points', 'ocf_points'))(out)
    assert isinstance(packed['inputs']['ocf_points'], torch.Tensor)
    assert packed['inputs']['ocf_points'].shape == out['ocf_points'].shape
    assert packed['data_samples'].ocf_path == results['ocf_path']
    assert 'ocf_points' not in Pack3DDetInputs(keys=('points',))(out)['inputs']
