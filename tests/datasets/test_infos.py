"""Info files of the tiny synthetic tree, checked against the devkit computed independently."""
import os
import pickle

import numpy as np
import pytest
from nuscenes.eval.detection.constants import ATTRIBUTE_NAMES
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.utils.geometry_utils import transform_matrix
from nuscenes.utils.splits import create_splits_scenes
from pyquaternion import Quaternion

from perception_kd.datasets import CAMERAS, CLASSES
from perception_kd.datasets.infos import create_nuscenes_infos

INFO_KEYS = {'sample_idx', 'token', 'timestamp', 'scene_token', 'prev', 'next', 'ego2global',
             'lidar_points', 'images', 'instances', 'lidarseg_path', 'ocf_path'}
IMAGE_KEYS = {'img_path', 'cam2img', 'lidar2cam', 'cam2ego', 'sample_data_token', 'timestamp',
              'height', 'width'}
INSTANCE_KEYS = {'bbox_3d', 'bbox_label_3d', 'velocity', 'num_lidar_pts', 'num_radar_pts',
                 'bbox_3d_isvalid', 'attr_label', 'instance_token', 'token'}


@pytest.fixture(scope='module')
def infos(tiny_infos):
    out = {}
    for split, path in tiny_infos.items():
        with open(path, 'rb') as f:
            out[split] = pickle.load(f)
    return out


def sensor2global(nusc, sd_token):
    """4x4 sensor -> global of a sample_data, with the devkit's own matrix helper."""
    sd = nusc.get('sample_data', sd_token)
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    return transform_matrix(pose['translation'], Quaternion(pose['rotation'])) @ \
        transform_matrix(cs['translation'], Quaternion(cs['rotation']))


def test_files_and_metainfo(tiny_infos, infos, tiny_root):
    assert set(tiny_infos) == {'train', 'val'}
    for split, path in tiny_infos.items():
        assert os.path.dirname(path) == tiny_root
        assert path.endswith(f'nuscenes_infos_{split}.pkl')
        meta = infos[split]['metainfo']
        assert meta['categories'] == {name: i for i, name in enumerate(CLASSES)}
        assert meta['dataset'] == 'nuscenes' and meta['version'] == 'v1.0-mini'
        assert meta['info_version'] == '1.1'
    assert not [f for f in os.listdir(tiny_root) if f.endswith('.tmp')]


def test_contract_keys(infos):
    for data in infos.values():
        assert data['data_list']
        for info in data['data_list']:
            assert set(info) >= INFO_KEYS
            assert set(info['lidar_points']) >= {'num_pts_feats', 'lidar_path', 'lidar2ego',
                                                 'sample_data_token'}
            assert os.path.dirname(info['lidar_points']['lidar_path']) == ''
            assert np.asarray(info['ego2global']).shape == (4, 4)
            assert set(info['images']) == set(CAMERAS)
            for image in info['images'].values():
                assert set(image) >= IMAGE_KEYS
                assert np.asarray(image['cam2img']).shape == (3, 3)
                assert np.asarray(image['lidar2cam']).shape == (4, 4)
            assert info.get('lidar_sweeps', None) != []  # none: no key (mmdet3d pads then)
            for sweep in info.get('lidar_sweeps', []):
                assert set(sweep) >= {'lidar_points', 'ego2global', 'timestamp',
                                      'sample_data_token', 'lidar2sensor'}
                assert sweep['lidar_points']['lidar_path'].startswith(('sweeps/', 'samples/'))
                # where mmdet3d's LoadPointsFromMultiSweeps reads it, the same matrix
                assert sweep['lidar_points']['lidar2sensor'] == sweep['lidar2sensor']
            for inst in info['instances']:
                assert set(inst) >= INSTANCE_KEYS
                assert len(inst['bbox_3d']) == 7 and len(inst['velocity']) == 2
            assert info['ocf_path'] is None


def test_split_by_scene_names(infos, tiny_nusc):
    splits = create_splits_scenes()
    for split, devkit in (('train', 'mini_train'), ('val', 'mini_val')):
        data_list = infos[split]['data_list']
        names = {tiny_nusc.get('scene', info['scene_token'])['name'] for info in data_list}
        assert names and names <= set(splits[devkit])
        expected = sum(s['nbr_samples'] for s in tiny_nusc.scene if s['name'] in names)
        assert len(data_list) == expected
    all_tokens = [i['token'] for d in infos.values() for i in d['data_list']]
    assert sorted(all_tokens) == sorted(s['token'] for s in tiny_nusc.sample)


def test_prev_next_and_order(infos, tiny_nusc):
    for data in infos.values():
        data_list = data['data_list']
        for idx, info in enumerate(data_list):
            assert info['sample_idx'] == idx
            sample = tiny_nusc.get('sample', info['token'])
            assert info['timestamp'] == pytest.approx(sample['timestamp'] / 1e6)
            if sample['prev']:
                assert data_list[info['prev']]['token'] == sample['prev']
            else:
                assert info['prev'] == -1
            if sample['next']:
                assert data_list[info['next']]['token'] == sample['next']
                assert data_list[info['next']]['prev'] == idx
            else:
                assert info['next'] == -1


def test_sweeps_nearest_first_and_lidar2sensor(infos, tiny_nusc):
    seen_full = False
    for data in infos.values():
        for info in data['data_list']:
            sweeps = info.get('lidar_sweeps', [])
            assert len(sweeps) <= 3  # max_sweeps of the fixture
            if info['prev'] == -1:   # nothing before the first keyframe of a scene
                assert 'lidar_sweeps' not in info
            lags = [info['timestamp'] - s['timestamp'] for s in sweeps]
            assert all(lag > 0 for lag in lags) and lags == sorted(lags)
            seen_full |= len(sweeps) == 3
            key2global = sensor2global(tiny_nusc, info['lidar_points']['sample_data_token'])
            token = info['lidar_points']['sample_data_token']
            for sweep in sweeps:
                token = tiny_nusc.get('sample_data', token)['prev']  # the prev chain, in order
                assert sweep['sample_data_token'] == token
                expected = np.linalg.inv(sensor2global(tiny_nusc, token)) @ key2global
                np.testing.assert_allclose(sweep['lidar2sensor'], expected, atol=1e-9)
    assert seen_full


def test_lidar2cam_equals_devkit_chain(infos, tiny_nusc):
    for info in infos['val']['data_list']:
        key2global = sensor2global(tiny_nusc, info['lidar_points']['sample_data_token'])
        for channel, image in info['images'].items():
            sd = tiny_nusc.get('sample_data', image['sample_data_token'])
            assert sd['channel'] == channel
            assert os.path.basename(sd['filename']) == image['img_path']
            expected = np.linalg.inv(sensor2global(tiny_nusc, sd['token'])) @ key2global
            np.testing.assert_allclose(image['lidar2cam'], expected, atol=1e-9)
            cs = tiny_nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
            np.testing.assert_allclose(image['cam2img'], cs['camera_intrinsic'])
            assert (image['height'], image['width']) == (sd['height'], sd['width'])


def test_boxes_match_devkit(infos, tiny_nusc):
    checked = 0
    for data in infos.values():
        for info in data['data_list']:
            lidar_token = info['lidar_points']['sample_data_token']
            _, boxes, _ = tiny_nusc.get_sample_data(lidar_token)  # in the LiDAR frame
            by_token = {box.token: box for box in boxes}
            sd = tiny_nusc.get('sample_data', lidar_token)
            cs = tiny_nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
            pose = tiny_nusc.get('ego_pose', sd['ego_pose_token'])
            assert len(info['instances']) == len(tiny_nusc.get('sample', info['token'])['anns'])
            for inst in info['instances']:
                box = by_token[inst['token']]
                ann = tiny_nusc.get('sample_annotation', inst['token'])
                np.testing.assert_allclose(inst['bbox_3d'][:3], box.center, atol=1e-6)
                np.testing.assert_allclose(inst['bbox_3d'][3:6], box.wlh[[1, 0, 2]], atol=1e-6)
                dyaw = inst['bbox_3d'][6] - box.orientation.yaw_pitch_roll[0]
                assert abs(np.arctan2(np.sin(dyaw), np.cos(dyaw))) < 1e-3
                velo = tiny_nusc.box_velocity(inst['token'])
                velo = Quaternion(cs['rotation']).inverse.rotate(
                    Quaternion(pose['rotation']).inverse.rotate(np.nan_to_num(velo)))
                if not np.isnan(tiny_nusc.box_velocity(inst['token'])[0]):
                    np.testing.assert_allclose(inst['velocity'], velo[:2], atol=1e-6)
                else:
                    assert np.isnan(inst['velocity']).all()
                name = category_to_detection_name(ann['category_name'])
                assert inst['bbox_label_3d'] == (CLASSES.index(name) if name else -1)
                attrs = [tiny_nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']]
                assert inst['attr_label'] == (ATTRIBUTE_NAMES.index(attrs[0]) if attrs else -1)
                assert inst['num_lidar_pts'] == ann['num_lidar_pts']
                assert inst['bbox_3d_isvalid'] == (ann['num_lidar_pts'] + ann['num_radar_pts'] > 0)
                assert inst['instance_token'] == ann['instance_token']
                checked += 1
    assert checked > 20


def test_lidarseg_paths(infos, tiny_root):
    for info in infos['val']['data_list']:
        assert info['lidarseg_path'].startswith('lidarseg/v1.0-mini/')
        labels = os.path.getsize(os.path.join(tiny_root, info['lidarseg_path']))
        cloud = os.path.join(tiny_root, 'samples/LIDAR_TOP', info['lidar_points']['lidar_path'])
        assert labels * 5 * 4 == os.path.getsize(cloud)  # one uint8 label per point


def test_create_data_cli(tiny_root, tmp_path):
    from tools.create_data import main
    paths = main([tiny_root, '--out-dir', str(tmp_path), '--prefix', 'demo', '--max-sweeps', '1',
                  '--no-progress'])
    assert sorted(os.listdir(tmp_path)) == ['demo_infos_train.pkl', 'demo_infos_val.pkl']
    with open(paths['val'], 'rb') as f:
        data = pickle.load(f)
    assert max(len(i.get('lidar_sweeps', [])) for i in data['data_list']) == 1


def test_clear_errors(tiny_root, tmp_path):
    missing = str(tmp_path / 'no_such_root')
    with pytest.raises(FileNotFoundError, match='no_such_root.*make_synthetic.py'):
        create_nuscenes_infos(missing, progress=False)
    with pytest.raises(FileNotFoundError, match=r"v1.0-trainval.*\['v1.0-mini'\]"):
        create_nuscenes_infos(tiny_root, version='v1.0-trainval', out_dir=str(tmp_path),
                              progress=False)
    with pytest.raises(ValueError, match='unknown nuScenes version'):
        create_nuscenes_infos(tiny_root, version='v2.0', progress=False)
    with pytest.raises(SystemExit, match='no_such_root'):
        from tools.create_data import main
        main([missing, '--no-progress'])
