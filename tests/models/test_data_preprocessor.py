"""Det3DDataPreprocessor: voxel coordinates, per-sample caps, images, NaN and empty clouds."""
import pytest
import torch

from perception_kd.models import Det3DDataPreprocessor
from perception_kd.structures import Det3DDataSample

PCR = [-4.0, -4.0, -2.0, 4.0, 4.0, 2.0]
VOXEL = [0.5, 0.5, 1.0]   # 16 x 16 x 4 voxels


def make(**kwargs):
    cfg = dict(voxel_size=VOXEL, point_cloud_range=PCR, max_num_points=4, max_voxels=(5, 3))
    cfg.update(kwargs)
    return Det3DDataPreprocessor(voxelize_cfg=cfg)


def samples(*tokens):
    return [Det3DDataSample(metainfo=dict(token=t)) for t in tokens]


def cloud(*xyz):
    pts = torch.zeros((len(xyz), 5))
    pts[:, :3] = torch.tensor(xyz, dtype=torch.float32)
    pts[:, 3] = torch.arange(len(xyz), dtype=torch.float32)
    return pts


def test_voxel_coords_are_batch_z_y_x():
    pre = make()
    batch = dict(inputs=dict(points=[cloud((0.1, 2.2, -1.5), (0.2, 2.3, -1.6)),
                                     cloud((-3.9, 1.0, 1.9))]),
                 data_samples=samples('a', 'b'))
    out = pre(batch, training=True)
    vox = out['inputs']['voxels']
    assert set(vox) == {'voxels', 'num_points', 'coors', 'batch_size'} and vox['batch_size'] == 2
    # x=0.1 -> 8, y=2.2 -> 12, z=-1.5 -> 0; x=-3.9 -> 0, y=1.0 -> 10, z=1.9 -> 3
    assert vox['coors'].tolist() == [[0, 0, 12, 8], [1, 3, 10, 0]]
    assert vox['coors'].dtype == torch.int32
    assert vox['num_points'].tolist() == [2, 1]
    assert vox['voxels'].shape == (2, 4, 5)
    torch.testing.assert_close(vox['voxels'][0, :2, :3], torch.tensor([[0.1, 2.2, -1.5],
                                                                       [0.2, 2.3, -1.6]]))
    # the clouds stay a list, on the device
    assert isinstance(out['inputs']['points'], list) and len(out['inputs']['points']) == 2
    assert [s.token for s in out['data_samples']] == ['a', 'b']


def test_max_voxels_train_and_test_per_sample():
    pre = make()
    pts = cloud(*[(-3.9 + 0.5 * i, 0.1, 0.1) for i in range(8)])  # 8 distinct voxels
    batch = dict(inputs=dict(points=[pts, pts]), data_samples=samples('a', 'b'))
    coors = pre(batch, training=True)['inputs']['voxels']['coors']
    assert (coors[:, 0] == 0).sum() == 5 and (coors[:, 0] == 1).sum() == 5
    coors = pre(batch, training=False)['inputs']['voxels']['coors']
    assert (coors[:, 0] == 0).sum() == 3 and (coors[:, 0] == 1).sum() == 3


def test_ocf_points_voxelized_separately():
    pre = make()
    batch = dict(inputs=dict(points=[cloud((0.1, 0.1, 0.1))],
                             ocf_points=[cloud((1.1, 0.1, 0.1), (2.1, 0.1, 0.1))]),
                 data_samples=samples('a'))
    inputs = pre(batch)['inputs']
    assert len(inputs['voxels']['coors']) == 1 and len(inputs['ocf_voxels']['coors']) == 2
    assert inputs['ocf_voxels']['coors'][:, 3].tolist() == [10, 12]


def test_nan_points_name_the_sample():
    pre = make()
    bad = cloud((0.1, 0.1, 0.1), (0.2, 0.2, 0.2))
    bad[1, 3] = float('nan')
    batch = dict(inputs=dict(points=[cloud((0.1, 0.1, 0.1)), bad]),
                 data_samples=samples('tok_ok', 'tok_bad'))
    with pytest.raises(ValueError, match=r"points of sample 'tok_bad' \(batch index 1\) has 1 "
                                         r'points with NaN/inf'):
        pre(batch)
    inf = cloud((0.1, 0.1, float('inf')))
    with pytest.raises(ValueError, match='tok_x'):
        pre(dict(inputs=dict(points=[inf]), data_samples=samples('tok_x')))


def test_empty_cloud_gives_zero_voxels_for_that_sample():
    pre = make()
    batch = dict(inputs=dict(points=[torch.zeros((0, 5)), cloud((0.1, 0.1, 0.1)),
                                     cloud((100.0, 0.0, 0.0))]),   # out of range: also empty
                 data_samples=samples('a', 'b', 'c'))
    vox = pre(batch)['inputs']['voxels']
    assert vox['coors'][:, 0].tolist() == [1] and vox['batch_size'] == 3
    everything_empty = pre(dict(inputs=dict(points=[torch.zeros((0, 5))]),
                                data_samples=samples('a')))['inputs']['voxels']
    assert everything_empty['coors'].shape == (0, 4)
    assert everything_empty['voxels'].shape == (0, 4, 5)


def test_images_stacked_and_normalised():
    pre = make()
    imgs = [torch.full((6, 3, 8, 16), 255, dtype=torch.uint8), torch.zeros((6, 3, 8, 16),
                                                                          dtype=torch.uint8)]
    out = pre(dict(inputs=dict(imgs=imgs), data_samples=samples('a', 'b')))['inputs']['imgs']
    assert out.shape == (2, 6, 3, 8, 16) and out.dtype == torch.float32
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    torch.testing.assert_close(out[0, 0, :, 0, 0], (255 - mean) / std)
    torch.testing.assert_close(out[1, 3, :, 4, 4], -mean / std)
    with pytest.raises(ValueError, match='one shape'):
        pre(dict(inputs=dict(imgs=[imgs[0], imgs[1][:, :, :4]]), data_samples=samples('a', 'b')))


def test_camera_only_without_voxelize_cfg():
    pre = Det3DDataPreprocessor()
    out = pre(dict(inputs=dict(points=[cloud((0.1, 0.1, 0.1))]), data_samples=samples('a')))
    assert 'voxels' not in out['inputs'] and len(out['inputs']['points']) == 1


def test_bad_config_keys():
    with pytest.raises(KeyError, match='voxel_sizes'):
        Det3DDataPreprocessor(voxelize_cfg=dict(voxel_sizes=VOXEL, point_cloud_range=PCR,
                                                max_num_points=4))
    with pytest.raises(KeyError, match='lidar_points'):
        Det3DDataPreprocessor(point_keys=('lidar_points',))


def test_pairing_and_maps_pass_through():
    pre = make()
    pairing = [torch.tensor([[0, 0, 3, 4], [1, 2, 0, 0]]), torch.zeros((0, 4), dtype=torch.int64)]
    maps = [torch.arange(24).view(2, 3, 4), torch.ones((2, 3, 4), dtype=torch.int64)]
    batch = dict(inputs=dict(points=[cloud((0.1, 2.2, -1.5), (0.2, 2.3, -1.6)),
                                     cloud((-3.9, 1.0, 1.9))],
                             pairing=pairing, superpixels=maps, img_semantics=maps),
                 data_samples=samples('a', 'b'))
    out = pre(batch, training=True)['inputs']
    assert isinstance(out['pairing'], list) and len(out['pairing']) == 2
    assert torch.equal(out['pairing'][0], pairing[0]) and out['pairing'][1].shape == (0, 4)
    for key in ('superpixels', 'img_semantics'):
        assert out[key].shape == (2, 2, 3, 4) and out[key].dtype == torch.int64
        assert torch.equal(out[key][0], maps[0])
    assert 'voxels' in out and 'pairing_voxels' not in out
    # maps of different sizes stay a list
    batch['inputs']['superpixels'] = [maps[0], torch.ones((2, 5, 4), dtype=torch.int64)]
    out = pre(batch)['inputs']
    assert isinstance(out['superpixels'], list) and out['superpixels'][1].shape == (2, 5, 4)
