"""The synthetic nuScenes-format world, checked with the unmodified nuscenes-devkit."""
import hashlib
import json
import os

import numpy as np
import pytest
from nuscenes.utils.data_classes import Box, LidarPointCloud
from nuscenes.utils.geometry_utils import points_in_box, view_points
from pyquaternion import Quaternion

from perception_kd.datasets.synthetic import (
    SyntheticConfig,
    Tokens,
    generate_dataset,
    load_config,
    replay_world,
    scene_names,
)
from perception_kd.datasets.synthetic.camera import CAMERAS, Rasteriser
from perception_kd.datasets.synthetic.catalog import CLASSES, LIDARSEG_INDEX
from perception_kd.datasets.synthetic.lidar import LidarModel, cast_rays, lidar2ego_transform
from perception_kd.datasets.synthetic.world import Primitives, Road, Track, World, make_parts
from perception_kd.structures import make_transform

TABLES = ['attribute', 'calibrated_sensor', 'category', 'ego_pose', 'instance', 'log', 'map',
          'sample', 'sample_annotation', 'sample_data', 'scene', 'sensor', 'visibility']


def global_cloud(nusc, lidar_token):
    """A keyframe cloud in the global frame, the devkit's way."""
    sd = nusc.get('sample_data', lidar_token)
    cloud = LidarPointCloud.from_file(os.path.join(nusc.dataroot, sd['filename']))
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    cloud.rotate(Quaternion(cs['rotation']).rotation_matrix)
    cloud.translate(np.array(cs['translation']))
    cloud.rotate(Quaternion(pose['rotation']).rotation_matrix)
    cloud.translate(np.array(pose['translation']))
    return cloud


def test_devkit_loads_all_tables(tiny_nusc, tiny_root):
    for table in TABLES:
        assert len(getattr(tiny_nusc, table)) > 0, table
    assert sorted(s['name'] for s in tiny_nusc.scene) == ['scene-0061', 'scene-0103']
    assert {c['name'] for c in tiny_nusc.category} >= {c.category for c in CLASSES.values()}
    for sd in tiny_nusc.sample_data:
        path = os.path.join(tiny_root, sd['filename'])
        assert os.path.exists(path), path
        if sd['fileformat'] == 'pcd':
            cloud = LidarPointCloud.from_file(path)
            assert cloud.points.shape[0] == 4 and cloud.points.shape[1] > 1000
    # every sample has the lidar and the 6 cameras
    for sample in tiny_nusc.sample:
        assert set(sample['data']) == {'LIDAR_TOP'} | {c.channel for c in CAMERAS}
    # the calibrated LiDAR is rotated about -90 degrees of yaw (x to the ego's right)
    lidar_cs = next(c for c in tiny_nusc.calibrated_sensor if not c['camera_intrinsic'])
    assert abs(Quaternion(lidar_cs['rotation']).yaw_pitch_roll[0] + np.pi / 2) < 0.05


def test_lidarseg_labels(tiny_nusc, tiny_root):
    for record in tiny_nusc.lidarseg:
        labels = np.fromfile(os.path.join(tiny_root, record['filename']), dtype=np.uint8)
        sd = tiny_nusc.get('sample_data', record['sample_data_token'])
        cloud = LidarPointCloud.from_file(os.path.join(tiny_root, sd['filename']))
        assert len(labels) == cloud.points.shape[1]
        assert LIDARSEG_INDEX['flat.driveable_surface'] in labels
        assert labels.max() < 32


def test_num_lidar_pts_matches_devkit(tiny_nusc):
    checked = 0
    for sample in tiny_nusc.sample:
        cloud = global_cloud(tiny_nusc, sample['data']['LIDAR_TOP'])
        for ann_token in sample['anns']:
            ann = tiny_nusc.get('sample_annotation', ann_token)
            box = Box(ann['translation'], ann['size'], Quaternion(ann['rotation']))
            assert points_in_box(box, cloud.points[:3]).sum() == ann['num_lidar_pts'], ann_token
            checked += 1
    assert checked > 50
    counts = np.array([a['num_lidar_pts'] for a in tiny_nusc.sample_annotation])
    assert (counts > 0).mean() > 0.5


def test_tracks_attributes_and_chains(tiny_nusc):
    for instance in tiny_nusc.instance:
        token, n = instance['first_annotation_token'], 0
        while token:
            ann = tiny_nusc.get('sample_annotation', token)
            assert ann['instance_token'] == instance['token']
            assert len(ann['attribute_tokens']) <= 1
            token, n = ann['next'], n + 1
        assert n == instance['nbr_annotations']
    names = {tiny_nusc.get('category', i['category_token'])['name'] for i in tiny_nusc.instance}
    assert names >= {'vehicle.car', 'human.pedestrian.adult', 'movable_object.trafficcone'}
    # moving objects exist, and their velocity is what the devkit computes from the chain
    speeds = [
        np.linalg.norm(tiny_nusc.box_velocity(a['token'])[:2]) for a in tiny_nusc.sample_annotation
    ]
    assert np.nanmax(speeds) > 1.0


def test_detection_eval_on_ground_truth(tiny_nusc, tiny_root, tmp_path):
    from nuscenes.eval.detection.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval
    from nuscenes.eval.detection.utils import category_to_detection_name
    from nuscenes.utils.splits import create_splits_scenes

    val_scenes = set(create_splits_scenes()['mini_val'])
    tokens = [s['token'] for s in tiny_nusc.sample
              if tiny_nusc.get('scene', s['scene_token'])['name'] in val_scenes]
    gt, empty = {}, {}
    for token in tokens:
        boxes = []
        for ann_token in tiny_nusc.get('sample', token)['anns']:
            ann = tiny_nusc.get('sample_annotation', ann_token)
            name = category_to_detection_name(ann['category_name'])
            if name is None or ann['num_lidar_pts'] + ann['num_radar_pts'] == 0:
                continue    # the devkit drops such ground truth; as predictions they would be false
            attrs = [tiny_nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']]
            velocity = tiny_nusc.box_velocity(ann_token)[:2]
            boxes.append(dict(sample_token=token, translation=ann['translation'], size=ann['size'],
                              rotation=ann['rotation'], velocity=list(np.nan_to_num(velocity)),
                              detection_name=name, detection_score=1.0,
                              attribute_name=attrs[0] if attrs else ''))
        gt[token], empty[token] = boxes, []
    # The devkit cannot load a results file without any box at all; a single box 1 km away
    # (dropped by the class range filter) makes "no detections" evaluable.
    far = dict(gt[tokens[0]][0], translation=[1e3, 1e3, 1.0])
    empty[tokens[0]] = [far]
    meta = dict(
        use_camera=False, use_lidar=True, use_radar=False, use_map=False, use_external=False
    )
    scores = {}
    for label, results in (('gt', gt), ('empty', empty)):
        path = tmp_path / f'{label}.json'
        path.write_text(json.dumps(dict(meta=meta, results=results)))
        evaluator = DetectionEval(
            tiny_nusc,
            config_factory('detection_cvpr_2019'),
            str(path),
            'mini_val',
            str(tmp_path / label),
            verbose=False,
        )
        scores[label] = evaluator.evaluate()[0].serialize()
    assert scores['gt']['mean_ap'] >= 0.99, {
        k: v[2.0] for k, v in scores['gt']['label_aps'].items()
    }
    assert scores['empty']['mean_ap'] == 0.0


def test_same_seed_same_bytes(tmp_path):
    small = dict(
        version='v1.0-mini',
        scenes=1,
        keyframes=2,
        lidar_hz=4,
        image_size=(96, 54),
        seed=3,
        workers=1,
        azimuth_steps=360,
    )

    def digest(root):
        out = {}
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                out[os.path.relpath(path, root)] = hashlib.md5(open(path, 'rb').read()).hexdigest()
        return out

    generate_dataset(SyntheticConfig(out=str(tmp_path / 'a'), **small), progress=False)
    generate_dataset(SyntheticConfig(out=str(tmp_path / 'b'), **small), progress=False)
    generate_dataset(
        SyntheticConfig(out=str(tmp_path / 'c'), **dict(small, seed=4)), progress=False
    )
    a, b, c = digest(tmp_path / 'a'), digest(tmp_path / 'b'), digest(tmp_path / 'c')
    assert a == b and len(a) > 20
    assert a['v1.0-mini/sample_annotation.json'] != c['v1.0-mini/sample_annotation.json']
    # the image maps add files and change nothing else
    generate_dataset(SyntheticConfig(out=str(tmp_path / 'd'), image_maps=False, **small),
                     progress=False)
    d = digest(tmp_path / 'd')
    maps = {k for k in a if k.startswith(('superpixels', 'semantic2d'))}
    assert len(maps) == 2 * 6 * 2 and not any(
        k.startswith(('superpixels', 'semantic2d')) for k in d
    )
    assert {k: v for k, v in a.items() if k not in maps and k != 'synthetic_config.json'} == \
        {k: v for k, v in d.items() if k != 'synthetic_config.json'}


def test_refuses_to_overwrite(tiny_root):
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_dataset(SyntheticConfig(out=tiny_root, scenes=1, keyframes=2), progress=False)


def test_scene_names_include_val():
    assert scene_names('v1.0-mini', 2) == ['scene-0061', 'scene-0103']
    from nuscenes.utils import splits
    names = scene_names('v1.0-trainval', 10)
    assert any(n in splits.val for n in names) and any(n in splits.train for n in names)
    with pytest.raises(ValueError, match='10 scene names'):
        scene_names('v1.0-mini', 11)


def test_scene_names_with_a_chosen_val_split():
    from nuscenes.utils import splits
    names = scene_names('v1.0-trainval', 24, val_count=12)
    assert len(names) == len(set(names)) == 24
    assert sum(n in splits.val for n in names) == 12
    assert sum(n in splits.train for n in names) == 12
    assert names == list(splits.train[:12]) + list(splits.val[:12])
    with pytest.raises(ValueError, match='trainval only'):
        scene_names('v1.0-mini', 10, val_count=2)
    with pytest.raises(ValueError, match=r'val_scenes must be in .* = \[1, 9\]'):
        scene_names('v1.0-trainval', 10, val_count=10)


def _single_object_world(boxes):
    """A world of the given (class, x, y, yaw) objects, no structures, ego at the origin."""
    tracks = []
    for name, x, y, yaw in boxes:
        cls = CLASSES[name]
        size = np.array(cls.size)
        tracks.append(Track(cls, size, make_parts(cls, size, False), x, y, 0.0, yaw, ''))
    empty = Primitives(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, int),
                       np.zeros(0, int), np.zeros(0), np.zeros((0, 3), np.uint8))
    return World(Road(0.0), tracks, empty, 0.0, ego_d=0.0, seg_index=LIDARSEG_INDEX)


def _points_of(world, track_id):
    lidar2global = world.ego_pose(0.0) @ lidar2ego_transform()
    sweep = cast_rays(LidarModel(), world.primitives(0.0), lidar2global)
    return int((sweep.owner == track_id).sum())


def test_occlusion_is_real():
    # a car 25 m ahead, alone and then hidden behind a truck 12 m ahead (straight road: s=x, d=y)
    alone = _points_of(_single_object_world([('car', 25.0, 0.0, 0.0)]), 0)
    hidden = _points_of(
        _single_object_world([('car', 25.0, 0.0, 0.0), ('truck', 12.0, 0.0, 0.0)]), 0
    )
    assert alone > 20
    assert hidden < 0.2 * alone
    # far objects get fewer points than near ones
    near = _points_of(_single_object_world([('car', 10.0, 6.0, 0.0)]), 0)
    far = _points_of(_single_object_world([('car', 40.0, 6.0, 0.0)]), 0)
    assert far < 0.3 * near


def test_points_project_onto_their_object(tiny_nusc, tiny_root):
    """LiDAR points inside a box, projected into CAM_FRONT, land on that object's pixels."""
    cfg = load_config(tiny_root)
    tok = Tokens(cfg.seed)
    checked = 0
    for scene_index, scene in enumerate(sorted(tiny_nusc.scene, key=lambda s: s['name'])):
        world = replay_world(tiny_root, scene_index)
        track_of = {tok('instance', scene_index, i): i for i in range(len(world.tracks))}
        sample = tiny_nusc.get('sample', scene['first_sample_token'])
        cam = tiny_nusc.get('sample_data', sample['data']['CAM_FRONT'])
        cam_cs = tiny_nusc.get('calibrated_sensor', cam['calibrated_sensor_token'])
        cam_pose = tiny_nusc.get('ego_pose', cam['ego_pose_token'])
        t_cam = (
            cam['timestamp'] - tiny_nusc.get('sample', scene['first_sample_token'])['timestamp']
        ) / 1e6
        ego2global = make_transform(cam_pose['rotation'], cam_pose['translation'])
        _, ids = Rasteriser(CAMERAS[0], cam['width'], cam['height']).render(
            world, t_cam, ego2global, with_ids=True
        )
        cloud = global_cloud(tiny_nusc, sample['data']['LIDAR_TOP'])
        for ann_token in sample['anns']:
            ann = tiny_nusc.get('sample_annotation', ann_token)
            if ann['num_lidar_pts'] < 30:
                continue
            box = Box(ann['translation'], ann['size'], Quaternion(ann['rotation']))
            pts = cloud.points[:3, points_in_box(box, cloud.points[:3])]
            pts = pts[:, pts[2] > 0.15]                       # object, not ground
            pts = pts - np.array(cam_pose['translation'])[:, None]
            pts = Quaternion(cam_pose['rotation']).rotation_matrix.T @ pts
            pts = pts - np.array(cam_cs['translation'])[:, None]
            pts = Quaternion(cam_cs['rotation']).rotation_matrix.T @ pts
            front = pts[2] > 1.0
            uv = view_points(pts[:, front], np.array(cam_cs['camera_intrinsic']), normalize=True)
            u, v = uv[0].astype(int), uv[1].astype(int)
            inside = (u >= 0) & (u < cam['width']) & (v >= 0) & (v < cam['height'])
            if inside.sum() < 20:
                continue
            hits = ids[v[inside], u[inside]] == track_of[ann['instance_token']] + 1
            # moving objects shift a little between the lidar and camera timestamps
            assert hits.mean() > 0.6, (ann_token, hits.mean())
            checked += 1
    assert checked >= 2
