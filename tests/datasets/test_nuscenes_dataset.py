"""NuScenesDataset and the full pipelines on the tiny synthetic tree."""
import copy
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from perception_kd.datasets import CAMERAS, CLASSES, NuScenesDataset
from perception_kd.datasets.transforms import (
    BEVAugmentation,
    LoadAnnotations3D,
    LoadPointsFromFile,
    LoadPointsFromMultiSweeps,
)
from perception_kd.registry import DATASETS
from perception_kd.structures import Det3DDataSample, points_in_boxes, record_to_transform

CONFIG_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets')
LOADING = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
           dict(type='LoadAnnotations3D')]


def make_dataset(root, split='train', pipeline=(), **kwargs):
    return NuScenesDataset(data_root=root, ann_file=f'nuscenes_infos_{split}.pkl',
                           pipeline=list(pipeline), **kwargs)


def test_parse_paths_and_annotations(tiny_root, tiny_infos):
    ds = make_dataset(tiny_root, 'val', modality=dict(use_lidar=True, use_camera=True),
                      test_mode=True)
    assert len(ds) == 4 and ds.metainfo['classes'] == CLASSES
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        assert os.path.isfile(info['lidar_path'])
        assert info['lidar_path'] == os.path.join(tiny_root, 'samples/LIDAR_TOP',
                                                  os.path.basename(info['lidar_path']))
        assert all(os.path.isfile(s['lidar_points']['lidar_path']) for s in info['lidar_sweeps'])
        for cam in CAMERAS:
            path = info['images'][cam]['img_path']
            assert path.startswith(os.path.join(tiny_root, 'samples', cam)) and os.path.isfile(path)
        assert os.path.isfile(info['lidarseg_path'])
        assert info['lidar2ego'].shape == (4, 4) and info['ego2global'].shape == (4, 4)
        ann = info['ann_info']
        boxes, labels = ann['gt_bboxes_3d'], ann['gt_labels_3d']
        assert boxes.dtype == np.float32 and boxes.shape == (len(labels), 9)
        assert np.isfinite(boxes).all() and labels.dtype == np.int64
        assert ((labels >= 0) & (labels < 10)).all()
        # exactly the valid, labelled instances of the raw info
        valid = [i for i in info['instances'] if i['bbox_3d_isvalid'] and i['bbox_label_3d'] >= 0]
        assert len(valid) == len(labels) < len(info['instances'])
        np.testing.assert_allclose(boxes[:, :7], [i['bbox_3d'] for i in valid], atol=1e-5)
        assert list(ann['gt_names_3d']) == [CLASSES[i['bbox_label_3d']] for i in valid]


def test_class_subset_remaps_labels(tiny_root, tiny_infos):
    ds = make_dataset(tiny_root, 'val', metainfo=dict(classes=['pedestrian', 'car']),
                      test_mode=True)
    full = make_dataset(tiny_root, 'val', test_mode=True)
    for idx in range(len(ds)):
        ann, ref = ds.get_data_info(idx)['ann_info'], full.get_data_info(idx)['ann_info']
        keep = np.isin(ref['gt_names_3d'], ['pedestrian', 'car'])
        assert ann['gt_labels_3d'].tolist() == [['pedestrian', 'car'].index(n)
                                                for n in ref['gt_names_3d'][keep]]


def test_filter_empty_gt(tiny_root, tiny_infos):
    ds = make_dataset(tiny_root, 'train', pipeline=LOADING + [dict(type='ObjectNameFilter',
                                                                   classes=['car'])])
    assert all(len(ds.get_data_info(i)['ann_info']['gt_labels_3d']) for i in range(len(ds)))
    out = ds[0]  # re-fetches when the pipeline leaves no ground truth
    assert len(out['gt_labels_3d']) > 0


def _config(name, root):
    cfg = Config.fromfile(os.path.join(CONFIG_DIR, name))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = root
        for step in loader.dataset.pipeline:
            if step['type'] == 'ImageAug3D':  # the tiny tree's images are 320x180
                step.update(final_size=(128, 288), resize_lim=(0.9, 1.1))
    return cfg


@pytest.mark.parametrize('name', ['nuscenes_lidar.py', 'nuscenes_multimodal.py'])
def test_config_pipelines_yield_batches(name, tiny_root, tiny_infos):
    cfg = _config(name, tiny_root)
    camera = cfg.input_modality['use_camera']
    np.random.seed(0)
    for loader_cfg, train in ((cfg.train_dataloader, True), (cfg.val_dataloader, False)):
        dataset = DATASETS.build(copy.deepcopy(loader_cfg.dataset))
        loader = DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate, num_workers=0)
        batch = next(iter(loader))
        points = batch['inputs']['points']
        assert len(points) == 2
        assert all(p.dtype == torch.float32 and p.shape[1] == 5 for p in points)
        pcr = np.asarray(cfg.point_cloud_range)
        for p in points:
            assert (p[:, :3].numpy() > pcr[:3]).all() and (p[:, :3].numpy() < pcr[3:]).all()
            assert p[:, 4].min() >= 0  # time lag of merged sweeps
        if not train:  # val samples 0, 1: the second has sweeps
            assert points[0][:, 4].max() == 0 and points[1][:, 4].max() > 0
        samples = batch['data_samples']
        assert all(isinstance(s, Det3DDataSample) for s in samples)
        for sample in samples:
            assert sample.token and sample.bda_mat.shape == (4, 4)
            assert sample.lidar2ego.shape == (4, 4) and sample.ego2global.shape == (4, 4)
            if train:
                gt = sample.gt_instances_3d
                assert gt.bboxes_3d.shape[1] == 9 and gt.bboxes_3d.dtype == torch.float32
                assert gt.labels_3d.dtype == torch.long and len(gt) > 0
                assert not np.allclose(sample.bda_mat, np.eye(4))
            else:
                assert 'gt_instances_3d' not in sample and np.allclose(sample.bda_mat, np.eye(4))
        if camera:
            imgs = batch['inputs']['imgs']
            assert all(i.shape == (6, 3, 128, 288) and i.dtype == torch.uint8 for i in imgs)
            for sample in samples:
                assert sample.lidar2img.shape == (6, 4, 4)
                assert sample.img_aug_matrix.shape == (6, 4, 4)
                assert sample.cam_names == list(CAMERAS)
        else:
            assert 'imgs' not in batch['inputs']


def test_missing_ann_file(tiny_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nuscenes_infos_nope\.pkl.*create_data\.py'):
        NuScenesDataset(data_root=tiny_root, ann_file='nuscenes_infos_nope.pkl')


def test_unknown_pipeline_step(tiny_root, tiny_infos):
    with pytest.raises(KeyError, match=r"step 1 \(type='LoadPointz'\)"):
        make_dataset(tiny_root, pipeline=[LOADING[0], dict(type='LoadPointz')])
    with pytest.raises(TypeError, match=r"step 0 .*sweep_num"):
        make_dataset(tiny_root, pipeline=[dict(type='LoadPointsFromMultiSweeps', sweep_num=3)])
    with pytest.raises(KeyError, match='use_radar'):
        make_dataset(tiny_root, modality=dict(use_radar=True))


def test_broken_point_cloud(tiny_root, tiny_infos, tmp_path):
    src = os.path.join(tiny_root, 'samples', 'LIDAR_TOP')
    for name in os.listdir(src):
        data = open(os.path.join(src, name), 'rb').read()
        with open(tmp_path / name, 'wb') as f:
            f.write(data[:-8])  # 2 floats short: not a multiple of 5 float32
    ds = make_dataset(tiny_root, 'val', pipeline=LOADING, test_mode=True,
                      data_prefix=dict(pts=str(tmp_path)))
    with pytest.raises(
        ValueError,
        match=rf'{tmp_path}.*pcd\.bin \(sample \w+\) is corrupt: \d+ bytes is not a multiple '
        'of 20',
    ):
        ds[0]


def test_missing_camera_image(tiny_root, tiny_infos, tmp_path):
    ds = make_dataset(tiny_root, 'val', pipeline=[dict(type='LoadMultiViewImages')],
                      modality=dict(use_lidar=False, use_camera=True), test_mode=True,
                      data_prefix=dict(CAM_BACK=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=rf'{tmp_path}/\S+\.jpg \(CAM_BACK\)'):
        ds[0]


def _key_and_sweep_points(ds, idx):
    results = LoadAnnotations3D()(LoadPointsFromFile()(ds.get_data_info(idx)))
    num_key = len(results['points'])
    results = LoadPointsFromMultiSweeps(sweeps_num=3, remove_close=False, test_mode=True)(results)
    return results, num_key


def test_sweeps_are_motion_compensated(tiny_root, tiny_infos):
    """Sweep points of parked objects, brought into the keyframe frame, lie in their boxes."""
    ds = make_dataset(tiny_root, 'train', test_mode=True)
    checked = 0
    for idx in range(len(ds)):
        if not ds.get_data_info(idx)['lidar_sweeps']:
            continue
        results, num_key = _key_and_sweep_points(ds, idx)
        sweep_pts = results['points'][num_key:]
        lags = np.unique(sweep_pts[:, 4])
        assert len(lags) == 3 and lags.min() > 0
        boxes = results['gt_bboxes_3d']
        boxes = boxes[np.hypot(boxes[:, 7], boxes[:, 8]) < 0.05]
        tight = boxes.copy()
        tight[:, 3:6] += 0.1
        around = boxes.copy()  # 0.5 m around each box, above the ground
        around[:, 3:5] += 1.0
        around[:, 5] -= 0.4
        around[:, 2] += 0.2
        near = points_in_boxes(sweep_pts, around).any(1)
        inside = points_in_boxes(sweep_pts, tight).any(1)
        assert near.sum() > 100
        # without compensation about 5-10 % of them fall outside (the ego moves ~0.6 m/sweep)
        assert (inside & near).sum() / near.sum() > 0.99
        checked += 1
    assert checked >= 2


def test_bev_augmentation_on_a_scene(tiny_root, tiny_infos):
    ds = make_dataset(tiny_root, 'train', test_mode=True)
    results, _ = _key_and_sweep_points(ds, 1)
    points, boxes = results['points'], results['gt_bboxes_3d']
    before = points_in_boxes(points, boxes).sum(0)
    assert before.sum() > 1000
    for seed in range(3):
        np.random.seed(seed)
        aug = BEVAugmentation(rot_range=(-np.pi, np.pi), scale_range=(0.9, 1.1),
                              translation_std=0.5)
        out = aug(dict(points=points.copy(), gt_bboxes_3d=boxes.copy()))
        np.testing.assert_array_equal(points_in_boxes(out['points'], out['gt_bboxes_3d']).sum(0),
                                      before)


# --------------------------------------------------------------- the acceptance test
def _instance_maps(root, nusc, info, cam_names):
    """The synthetic generator's exact instance map of each camera image of a sample, and
    the map id of each instance token (the world is replayed from the tree's config)."""
    from perception_kd.datasets.synthetic.camera import CAMERAS as SPECS
    from perception_kd.datasets.synthetic.camera import Rasteriser
    from perception_kd.datasets.synthetic.writer import (
        Tokens,
        load_config,
        replay_world,
        scene_names,
    )
    cfg = load_config(root)
    scene = nusc.get('scene', info['scene_token'])
    index = scene_names(cfg.version, cfg.scenes).index(scene['name'])
    world = replay_world(root, index)
    tokens = Tokens(cfg.seed)
    ids = {tokens('instance', index, i): i + 1 for i in range(len(world.tracks))}
    t0 = nusc.get('sample', scene['first_sample_token'])['timestamp']
    specs = {spec.channel: spec for spec in SPECS}
    maps = []
    for cam in cam_names:
        image = info['images'][cam]
        sd = nusc.get('sample_data', image['sample_data_token'])
        pose = record_to_transform(nusc.get('ego_pose', sd['ego_pose_token']))
        ras = Rasteriser(specs[cam], image['width'], image['height'])
        maps.append(ras.render(world, (sd['timestamp'] - t0) / 1e6, pose, with_ids=True)[1])
    return maps, ids


def _hit_rates(points, boxes, tokens, lidar2img, maps, ids):
    """Per (object, camera) with >= 5 projected points: fraction landing on the object's id."""
    inside = points_in_boxes(points, boxes)
    rates, weights = [], []
    hom = np.concatenate([points[:, :3], np.ones((len(points), 1))], 1)
    for cam, id_map in enumerate(maps):
        proj = hom @ lidar2img[cam].T
        for k, token in enumerate(tokens):
            p = proj[inside[:, k] & (proj[:, 2] > 0.5)]
            uv = np.floor(p[:, :2] / p[:, 2:3]).astype(int)
            uv = uv[(uv[:, 0] >= 0) & (uv[:, 0] < id_map.shape[1]) & (uv[:, 1] >= 0)
                    & (uv[:, 1] < id_map.shape[0])]
            if len(uv) >= 5:
                rates.append(np.mean(id_map[uv[:, 1], uv[:, 0]] == ids[token]))
                weights.append(len(uv))
    return np.asarray(rates), np.asarray(weights)


def test_lidar_points_project_onto_their_objects(tiny_root, tiny_infos, tiny_nusc):
    """LiDAR points of an object, projected through lidar2img, land on that object's pixels."""
    ds = make_dataset(tiny_root, 'val', test_mode=True, modality=dict(use_camera=True),
                      pipeline=LOADING + [dict(type='LoadMultiViewImages')])
    all_rates, all_weights = [], []
    for idx in (0, 2):
        results = ds[idx]
        info = ds.get_data_info(idx)
        maps, ids = _instance_maps(tiny_root, tiny_nusc, info, results['cam_names'])
        assert [m.shape for m in maps] == results['img_shape']
        args = (results['points'], results['gt_bboxes_3d'], results['instance_tokens'])
        rates, weights = _hit_rates(*args, results['lidar2img'], maps, ids)
        all_rates.append(rates)
        all_weights.append(weights)
        # the check discriminates: ignoring the LiDAR mounting rotation breaks it
        lidar2ego = results['lidar2ego'].copy()
        lidar2ego[:3, :3] = np.eye(3)
        wrong = results['lidar2img'] @ np.linalg.inv(results['lidar2ego']) @ lidar2ego
        bad, bad_w = _hit_rates(*args, wrong, maps, ids)
        assert len(bad) == 0 or np.average(bad, weights=bad_w) < 0.3
    rates, weights = np.concatenate(all_rates), np.concatenate(all_weights)
    assert len(rates) >= 10
    # misses: occlusion seen from the camera but not the LiDAR, object motion in the
    # few ms between LiDAR and camera, pixel edges
    assert np.average(rates, weights=weights) > 0.9
    assert np.median(rates) > 0.95
