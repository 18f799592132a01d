"""PointImagePairing, LoadSuperpixels / LoadImageSemantics and their packing."""
import cv2
import numpy as np
import pytest
import torch

from perception_kd.datasets.io import image_map_path
from perception_kd.datasets.transforms import (
    ImageAug3D,
    LoadImageSemantics,
    LoadSuperpixels,
    Pack3DDetInputs,
    PointImagePairing,
    PointShuffle,
    PointsRangeFilter,
)


def _results(tmp_path, shapes=((40, 60), (40, 60))):
    """Two cameras looking along +x at the LiDAR origin, images under tmp_path/samples."""
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = [[0, -1, 0], [0, 0, -1], [1, 0, 0]]
    intrinsics = np.eye(4)
    intrinsics[:3, :3] = [[50, 0, 30], [0, 50, 20], [0, 0, 1]]
    paths = []
    for idx, shape in enumerate(shapes):
        path = tmp_path / 'samples' / f'CAM_{idx}' / f'img{idx}.jpg'
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros(shape + (3,), np.uint8))
        paths.append(str(path))
    points = np.array([[10.0, -0.1, -0.1, 1, 0], [10.0, 1.9, 0.9, 1, 0], [-5.0, 0.0, 0.0, 1, 0],
                       [0.5, 0.0, 0.0, 1, 0]], np.float32)
    return dict(points=points, img=[np.zeros(s + (3,), np.uint8) for s in shapes],
                img_path=paths, lidar2img=np.stack([intrinsics @ lidar2cam] * len(shapes)),
                img_shape=list(shapes), data_root=str(tmp_path))


def _write_map(tmp_path, img_path, folder, data):
    path = image_map_path(img_path, str(tmp_path), folder)
    import os
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, data)
    return path


def test_pairing_and_pack(tmp_path):
    results = PointImagePairing()(_results(tmp_path))
    # (10, -0.1, -0.1) -> u = 50*0.1/10+30 = 30.5, v = 20.5; (10, 1.9, 0.9) -> u = 20.5, v = 15.5
    assert results['pairing'].tolist() == [[0, 0, 20, 30], [1, 0, 15, 20],
                                           [0, 1, 20, 30], [1, 1, 15, 20]]
    packed = Pack3DDetInputs()(results)['inputs']
    assert packed['pairing'].dtype == torch.int64 and packed['pairing'].shape == (4, 4)


def test_pairing_undoes_bda(tmp_path):
    from perception_kd.datasets.transforms import BEVAugmentation
    results = BEVAugmentation(rot_range=(0.3, 0.3), flip_x_prob=1.0)(_results(tmp_path))
    assert PointImagePairing()(results)['pairing'][:, 2:].tolist() == [[20, 30], [15, 20]] * 2


def test_no_pairs_with_the_black_border(tmp_path):
    """A bigger output window than the image: (10, -8, 0) at original u = 70 (width 60) is
    inside the augmented window but not in the image content."""
    results = _results(tmp_path)
    results['points'] = np.concatenate([results['points'], [[10.0, -8.0, 0.0, 1, 0]]])
    results['ori_shape'] = list(results['img_shape'])
    results = PointImagePairing()(ImageAug3D(final_size=(60, 100))(results))
    assert results['pairing'][:, 0].tolist() == [0, 1, 0, 1]
    assert results['pairing'][0, 2:].tolist() == [40, 30]        # shifted 20 rows down


@pytest.mark.parametrize('late', [PointsRangeFilter((-1, -50, -5, 50, 50, 5)), PointShuffle()])
def test_points_changed_after_pairing_is_an_error(tmp_path, late):
    np.random.seed(1)
    results = PointImagePairing()(_results(tmp_path))
    with pytest.raises(ValueError, match='after PointImagePairing'):
        Pack3DDetInputs()(late(results))


def test_load_maps_warp_and_pack(tmp_path):
    results = _results(tmp_path)
    for idx, img_path in enumerate(results['img_path']):
        seg = (np.arange(40 * 60).reshape(40, 60) % 700 + 1 + idx).astype(np.uint16)
        _write_map(tmp_path, img_path, 'superpixels/slic', seg)
        _write_map(tmp_path, img_path, 'semantic2d', (seg % 32).astype(np.uint8))
    results = LoadImageSemantics()(LoadSuperpixels()(results))
    sp = results['img_superpixels']
    assert len(sp) == 2 and sp[0].dtype == np.int64 and sp[1][0, 0] == 2 and sp[0][3, 5] == 186
    assert results['img_semantics'][0][3, 5] == 186 % 32
    results = ImageAug3D(final_size=(32, 48), resize_lim=(0.8, 0.8))(results)
    results = PointImagePairing()(results)
    packed = Pack3DDetInputs()(results)['inputs']
    assert packed['superpixels'].shape == (2, 32, 48) and packed['superpixels'].dtype == torch.int64
    assert packed['img_semantics'].shape == (2, 32, 48)
    # the point at (10, -0.1, -0.1) lands on original pixel (20, 30); after the warp its pairing
    # pixel holds the superpixel of that original pixel
    row, col = results['pairing'][0, 2:]
    assert packed['superpixels'][0, row, col] == results['img_superpixels'][0][row, col]
    assert abs(int(packed['superpixels'][0, row, col]) - (20 * 60 + 30) % 700 - 1) <= 62


def test_load_maps_errors(tmp_path):
    results = _results(tmp_path)
    with pytest.raises(FileNotFoundError, match='make_superpixels.py'):
        LoadSuperpixels()(dict(results))
    with pytest.raises(FileNotFoundError, match='make_synthetic.py'):
        LoadSuperpixels(method='render')(dict(results))
    with pytest.raises(FileNotFoundError, match='make_synthetic.py'):
        LoadImageSemantics()(dict(results))
    _write_map(tmp_path, results['img_path'][0], 'superpixels/slic', np.ones((40, 60), np.uint16))
    path = _write_map(tmp_path, results['img_path'][1], 'superpixels/slic',
                      np.ones((20, 60), np.uint16))
    with pytest.raises(ValueError, match=path):
        LoadSuperpixels()(dict(results))
    with pytest.raises(KeyError, match='data_root'):
        LoadSuperpixels()({k: v for k, v in results.items() if k != 'data_root'})
    # an explicit data_root wins over the sample's
    _write_map(tmp_path, results['img_path'][1], 'superpixels/slic', np.ones((40, 60), np.uint16))
    out = LoadSuperpixels(data_root=str(tmp_path))(dict(results, data_root='/nowhere'))
    assert len(out['img_superpixels']) == 2
    with pytest.raises(ValueError, match='not under data_root'):
        LoadSuperpixels(data_root=str(tmp_path / 'other'))(dict(results))


def test_tiny_pipeline_end_to_end(tiny_root, tiny_infos):
    """Render superpixels and 2D semantics through ImageAug3D and BEVAugmentation: paired
    points still see their own class."""
    from perception_kd.datasets import NuScenesDataset

    def lidarseg(results):
        results['pts_semantic_mask'] = np.fromfile(results['lidarseg_path'], np.uint8)
        return results

    def keep_mask(results):
        packed = Pack3DDetInputs()(results)
        packed['mask'] = results['pts_semantic_mask']
        return packed

    np.random.seed(0)
    dataset = NuScenesDataset(
        tiny_root, tiny_infos['train'], modality=dict(use_lidar=True, use_camera=True),
        test_mode=True, pipeline=[
            dict(type='LoadPointsFromFile', load_dim=5, use_dim=5), lidarseg,
            dict(type='LoadMultiViewImages'), dict(type='LoadSuperpixels', method='render'),
            dict(type='LoadImageSemantics'),
            dict(type='ImageAug3D', final_size=(128, 224), resize_lim=(0.7, 0.8),
                 bot_pct_lim=(0.0, 0.1), rot_lim=(-5, 5), rand_flip=True, is_train=True),
            dict(type='BEVAugmentation'), dict(type='PointsRangeFilter',
                                               point_cloud_range=(-50, -50, -5, 50, 50, 3)),
            dict(type='PointShuffle'), dict(type='PointImagePairing'), keep_mask])
    out = dataset[0]
    inputs = out['inputs']
    pairing = inputs['pairing']
    assert len(pairing) > 500 and set(inputs) >= {'points', 'imgs', 'superpixels', 'img_semantics'}
    sem = inputs['img_semantics'][pairing[:, 1], pairing[:, 2], pairing[:, 3]].numpy()
    assert (sem == out['mask'][pairing[:, 0].numpy()]).mean() > 0.85
    sp = inputs["superpixels"][pairing[:, 1], pairing[:, 2], pairing[:, 3]]
    assert (sp > 0).float().mean() > 0.99      # 0 (sky) only at a few occlusion edges
