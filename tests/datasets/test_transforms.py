"""Pipeline steps on hand-made arrays and files (no dataset needed)."""
import numpy as np
import pytest
import torch

from perception_kd.datasets.transforms import (
    BEVAugmentation,
    ImageAug3D,
    LoadAnnotations3D,
    LoadMultiViewImages,
    LoadPointsFromFile,
    LoadPointsFromMultiSweeps,
    ObjectNameFilter,
    ObjectRangeFilter,
    Pack3DDetInputs,
    PointShuffle,
    PointsRangeFilter,
    bev_matrix,
    build_pipeline,
    transform_boxes,
)
from perception_kd.structures import (
    Det3DDataSample,
    box_corners,
    make_transform,
    points_in_boxes,
    transform_points,
    yaw_to_quat,
)


def random_boxes(rng, n=6):
    """(n, 9) well separated boxes with velocities."""
    centres = np.stack([np.arange(n) * 8.0 - 20.0, rng.uniform(-20, 20, n),
                        rng.uniform(-1, 1, n)], 1)
    dims = rng.uniform(0.5, 5.0, (n, 3))
    yaw = rng.uniform(-np.pi, np.pi, n)
    vel = rng.normal(0, 3, (n, 2))
    return np.concatenate([centres, dims, yaw[:, None], vel], 1)


def points_with_margin(rng, boxes, n=4000, margin=0.02):
    """Random points around the boxes, none within ``margin`` of a box surface."""
    pts = rng.uniform(-30, 30, (n, 3)) * [1, 1, 0.1]
    local = rng.uniform(-0.5, 0.5, (n, 3))
    owner = rng.integers(0, len(boxes), n)
    rot = np.stack([np.cos(boxes[owner, 6]), np.sin(boxes[owner, 6])], 1)
    lxy = local[:, :2] * boxes[owner, 3:5] * 1.2
    inside = np.stack([lxy[:, 0] * rot[:, 0] - lxy[:, 1] * rot[:, 1],
                       lxy[:, 0] * rot[:, 1] + lxy[:, 1] * rot[:, 0],
                       local[:, 2] * boxes[owner, 5] * 1.2], 1) + boxes[owner, :3]
    pts = np.concatenate([pts, inside])
    grown, shrunk = boxes.copy(), boxes.copy()
    grown[:, 3:6] += 2 * margin
    shrunk[:, 3:6] -= 2 * margin
    ambiguous = points_in_boxes(pts, grown).any(1) & ~points_in_boxes(pts, shrunk).any(1)
    pts = pts[~ambiguous]
    feats = rng.uniform(0, 1, (len(pts), 2))
    return np.concatenate([pts, feats], 1).astype(np.float32)


# ----------------------------------------------------------------------------- loading
def test_load_points(tmp_path):
    pts = np.arange(50, dtype=np.float32).reshape(10, 5)
    path = tmp_path / 'a.pcd.bin'
    pts.tofile(path)
    out = LoadPointsFromFile(load_dim=5, use_dim=4)(dict(lidar_path=str(path)))['points']
    assert out.dtype == np.float32 and out.shape == (10, 4)
    np.testing.assert_array_equal(out, pts[:, :4])
    out = LoadPointsFromFile(load_dim=5, use_dim=[0, 1, 2, 4])(
        dict(lidar_points=dict(lidar_path=str(path))))['points']
    np.testing.assert_array_equal(out, pts[:, [0, 1, 2, 4]])


def test_load_points_errors(tmp_path):
    broken = tmp_path / 'broken.pcd.bin'
    np.zeros(5 * 7 + 3, np.float32).tofile(broken)  # 38 floats = 152 bytes
    with pytest.raises(ValueError, match=r'broken\.pcd\.bin.*152 bytes'):
        LoadPointsFromFile()(dict(lidar_path=str(broken)))
    with pytest.raises(FileNotFoundError, match='missing.pcd.bin'):
        LoadPointsFromFile()(dict(lidar_path=str(tmp_path / 'missing.pcd.bin')))
    with pytest.raises(ValueError, match='use_dim'):
        LoadPointsFromFile(load_dim=4, use_dim=5)


def test_multi_sweeps_motion_compensation(tmp_path):
    rng = np.random.default_rng(0)
    key_pts = np.concatenate([rng.uniform(-20, 20, (100, 3)), rng.uniform(0, 1, (100, 2))], 1)
    key_pts = key_pts[np.abs(key_pts[:, :2]).max(1) > 2].astype(np.float32)
    sweeps, expected = [], []
    for i in range(4):
        # the sweep sensor moved: keyframe-lidar -> sweep-lidar
        lidar2sensor = make_transform(yaw_to_quat(0.05 * (i + 1)), [1.5 * (i + 1), -0.3 * i, 0.02])
        world = key_pts[:20 * (i + 1)]  # the same physical points seen from the sweep
        path = tmp_path / f'sweep{i}.pcd.bin'
        transform_points(lidar2sensor, world).astype(np.float32).tofile(path)
        sweeps.append(dict(lidar_points=dict(lidar_path=str(path)), timestamp=10.0 - 0.05 * (i + 1),
                           lidar2sensor=lidar2sensor.tolist()))
        expected.append(world)
    results = dict(points=key_pts.copy(), timestamp=10.0, lidar_sweeps=sweeps)
    out = LoadPointsFromMultiSweeps(sweeps_num=3, remove_close=False, test_mode=True)(results)
    pts = out['points']
    assert pts.dtype == np.float32 and pts.shape == (len(key_pts) + 20 + 40 + 60, 5)
    np.testing.assert_array_equal(pts[:len(key_pts), 4], 0)
    start = len(key_pts)
    for i in range(3):  # nearest sweeps, in order
        chunk = pts[start:start + len(expected[i])]
        np.testing.assert_allclose(chunk[:, :3], expected[i][:, :3], atol=1e-4)
        np.testing.assert_allclose(chunk[:, 4], 0.05 * (i + 1), atol=1e-6)
        np.testing.assert_array_equal(chunk[:, 3], expected[i][:, 3])
        start += len(expected[i])
    # the diagnostic: same points, no time lag
    results = dict(points=key_pts.copy(), timestamp=10.0, lidar_sweeps=sweeps)
    flat = LoadPointsFromMultiSweeps(sweeps_num=3, remove_close=False, test_mode=True,
                                     drop_time_lag=True)(results)['points']
    np.testing.assert_array_equal(flat[:, :4], pts[:, :4])
    assert np.all(flat[:, 4] == 0) and np.any(pts[:, 4] > 0)


def test_multi_sweeps_random_choice_and_padding(tmp_path):
    pts = np.ones((30, 5), np.float32) * 5
    path = tmp_path / 's.pcd.bin'
    pts.tofile(path)
    sweeps = [dict(lidar_points=dict(lidar_path=str(path)), timestamp=1.0 - 0.05 * (i + 1),
                   lidar2sensor=np.eye(4).tolist()) for i in range(6)]
    np.random.seed(0)
    out = LoadPointsFromMultiSweeps(sweeps_num=2)(dict(points=pts.copy(), timestamp=1.0,
                                                       lidar_sweeps=sweeps))['points']
    assert len(out) == 90 and len(np.unique(out[30:, 4])) == 2
    padded = LoadPointsFromMultiSweeps(sweeps_num=3)(dict(points=pts.copy(), timestamp=1.0,
                                                          lidar_sweeps=[]))['points']
    assert len(padded) == 120 and np.all(padded[:, 4] == 0)
    with pytest.raises(ValueError, match='5 columns'):
        LoadPointsFromMultiSweeps()(dict(points=pts[:, :4], timestamp=1.0, lidar_sweeps=[]))


def test_load_multiview_images(tmp_path):
    import cv2
    images = {}
    for i, cam in enumerate(['CAM_FRONT', 'CAM_BACK']):
        img = np.zeros((20, 30, 3), np.uint8)
        img[..., 2] = 200  # red in RGB (BGR on disk)
        path = tmp_path / f'{cam}.png'
        cv2.imwrite(str(path), img)
        lidar2cam = make_transform(yaw_to_quat(i * np.pi), [0, 0, 1])
        images[cam] = dict(img_path=str(path), cam2img=[[10, 0, 15], [0, 10, 10], [0, 0, 1]],
                           lidar2cam=lidar2cam.tolist())
    out = LoadMultiViewImages()(dict(images=images))
    assert out['cam_names'] == ['CAM_FRONT', 'CAM_BACK']
    assert out['img'][0].dtype == np.uint8 and out['img'][0].shape == (20, 30, 3)
    assert out['img'][0][0, 0, 0] == 200  # BGR -> RGB
    assert out['cam2img'].shape == (2, 4, 4) and out['cam2img'][0, 3, 3] == 1
    np.testing.assert_allclose(out['lidar2img'], out['cam2img'] @ out['lidar2cam'])
    assert out['img_shape'] == [(20, 30), (20, 30)]
    images['CAM_BACK']['img_path'] = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        LoadMultiViewImages()(dict(images=images))


def test_load_annotations():
    ann = dict(gt_bboxes_3d=np.ones((2, 9)), gt_labels_3d=[0, 3], gt_names_3d=['car', 'bus'])
    out = LoadAnnotations3D()(dict(ann_info=ann))
    assert out['gt_bboxes_3d'].dtype == np.float32 and out['gt_labels_3d'].dtype == np.int64
    with pytest.raises(KeyError, match='ann_info'):
        LoadAnnotations3D()(dict(token='t'))


# ------------------------------------------------------------------------ augmentation
@pytest.mark.parametrize('seed', range(4))
def test_bev_augmentation_keeps_points_in_boxes(seed):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng).astype(np.float32)
    points = points_with_margin(rng, boxes)
    ocf = points[::3].copy()
    before = points_in_boxes(points, boxes).sum(0)
    assert before.min() > 0
    np.random.seed(seed)
    aug = BEVAugmentation(rot_range=(-np.pi, np.pi), scale_range=(0.8, 1.2), flip_x_prob=0.5,
                          flip_y_prob=0.5, translation_std=1.0)
    out = aug(dict(points=points.copy(), gt_bboxes_3d=boxes.copy(), ocf_points=ocf.copy()))
    after = points_in_boxes(out['points'], out['gt_bboxes_3d']).sum(0)
    np.testing.assert_array_equal(before, after)
    bda = out['bda_mat']
    np.testing.assert_allclose(transform_points(bda, points.astype(np.float64))[:, :3],
                               out['points'][:, :3], atol=1e-4)
    np.testing.assert_allclose(transform_points(bda, ocf.astype(np.float64))[:, :3],
                               out['ocf_points'][:, :3], atol=1e-4)
    np.testing.assert_array_equal(out['points'][:, 3:], points[:, 3:])
    # corners of the new boxes are the moved corners of the old ones (as sets: flips reorder)
    moved = transform_points(bda, box_corners(boxes.astype(np.float64)).reshape(-1, 3))
    new = box_corners(out['gt_bboxes_3d'].astype(np.float64)).reshape(-1, 3)
    for k in range(len(boxes)):
        a = np.sort(moved[8 * k:8 * k + 8].round(3), axis=0)
        b = np.sort(new[8 * k:8 * k + 8].round(3), axis=0)
        np.testing.assert_allclose(a, b, atol=2e-3)
    # velocities turn, scale and mirror with the BEV matrix
    np.testing.assert_allclose(out['gt_bboxes_3d'][:, 7:9], boxes[:, 7:9] @ bda[:2, :2].T,
                               rtol=1e-5, atol=1e-4)
    assert np.all(out['gt_bboxes_3d'][:, 6] >= -np.pi) and np.all(out['gt_bboxes_3d'][:, 6] < np.pi)


def test_bev_flip_semantics():
    box = np.array([[3.0, 2.0, 0.5, 4.0, 2.0, 1.5, 0.3, 1.0, -2.0]])
    fy = transform_boxes(box, bev_matrix(0.0, 1.0, flip_y=True))[0]
    np.testing.assert_allclose(fy, [3, -2, 0.5, 4, 2, 1.5, -0.3, 1.0, 2.0])
    fx = transform_boxes(box, bev_matrix(0.0, 1.0, flip_x=True))[0]
    np.testing.assert_allclose(fx, [-3, 2, 0.5, 4, 2, 1.5, np.pi - 0.3, -1.0, -2.0])
    rs = transform_boxes(box, bev_matrix(np.pi / 2, 2.0))[0]
    np.testing.assert_allclose(rs, [-4, 6, 1.0, 8, 4, 3, 0.3 + np.pi / 2, 4.0, 2.0], atol=1e-12)
    # composing keeps bda_mat = last @ first
    np.random.seed(1)
    out = BEVAugmentation()(dict(points=np.zeros((0, 5), np.float32),
                                 bda_mat=np.diag([2.0, 2, 2, 1])))
    first = out['bda_mat'] @ np.linalg.inv(np.diag([2.0, 2, 2, 1]))
    np.testing.assert_allclose(np.abs(np.linalg.det(first[:3, :3])) ** (1 / 3),
                               out['pcd_scale_factor'])


def _camera_results(rng, height=90, width=160):
    """One camera looking along the LiDAR +x axis, a textured image."""
    cam2img = np.array([[100.0, 0, width / 2], [0, 100.0, height / 2], [0, 0, 1]])
    # lidar x forward -> camera z, lidar y left -> camera -x, lidar z up -> camera -y
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = [[0, -1, 0], [0, 0, -1], [1, 0, 0]]
    img = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    k4 = np.eye(4)
    k4[:3, :3] = cam2img
    return dict(img=[img], cam2img=k4[None], lidar2cam=lidar2cam[None],
                lidar2img=(k4 @ lidar2cam)[None], img_aug_matrix=np.eye(4)[None])


def _project(lidar2img, pts):
    hom = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ lidar2img.T
    return hom[:, :2] / hom[:, 2:3], hom[:, 2]


@pytest.mark.parametrize('seed', range(5))
def test_image_aug_matrix_matches_lidar2img(seed):
    """img_aug_matrix on (u, v, d, 1) of the old projection gives the new projection."""
    rng = np.random.default_rng(seed)
    results = _camera_results(rng)
    lidar2img0 = results['lidar2img'][0].copy()
    np.random.seed(seed)
    aug = ImageAug3D(final_size=(64, 112), resize_lim=(0.8, 1.1), bot_pct_lim=(0.0, 0.15),
                     rot_lim=(-10, 10), rand_flip=True, is_train=True)
    out = aug(results)
    new = out['img'][0]
    assert new.shape == (64, 112, 3) and out['img_shape'] == [(64, 112)]
    pts = np.stack([rng.uniform(5, 30, 400), rng.uniform(-8, 8, 400), rng.uniform(-3, 3, 400)], 1)
    uv0, depth = _project(lidar2img0, pts)
    uv1, _ = _project(out['lidar2img'][0], pts)
    # img_aug_matrix acts on (u, v, d, 1)
    hom = np.concatenate([uv0, depth[:, None], np.ones((len(pts), 1))], 1)
    hom = hom @ out['img_aug_matrix'][0].T
    np.testing.assert_allclose(hom[:, :2], uv1, atol=1e-6)
    np.testing.assert_allclose(hom[:, 2], depth, atol=1e-9)


@pytest.mark.parametrize('seed', range(5))
def test_image_aug_pixels_follow_lidar2img(seed):
    """On an image whose pixels hold their own (u, v), the augmented pixel where the new
    lidar2img projects a point holds the original pixel where the old lidar2img did."""
    rng = np.random.default_rng(seed)
    results = _camera_results(rng)
    vv, uu = np.mgrid[0:90, 0:160].astype(np.float32)
    results['img'] = [np.stack([uu, vv, np.full_like(uu, 7)], -1)]
    lidar2img0 = results['lidar2img'][0].copy()
    np.random.seed(seed)
    out = ImageAug3D(final_size=(64, 112), resize_lim=(0.8, 1.1), bot_pct_lim=(0.0, 0.15),
                     rot_lim=(-10, 10), rand_flip=True, is_train=True)(results)
    new = out['img'][0]
    pts = np.stack([rng.uniform(5, 30, 400), rng.uniform(-8, 8, 400), rng.uniform(-3, 3, 400)], 1)
    uv0, _ = _project(lidar2img0, pts)
    uv1, _ = _project(out['lidar2img'][0], pts)
    ij = np.round(uv1[:, ::-1]).astype(int)
    inside = ((uv0 >= 1) & (uv0 <= [158, 88])).all(1) & ((ij >= 1) & (ij < [63, 111])).all(1)
    assert inside.sum() > 50
    # rounding uv1 moves at most 0.71 px, i.e. < 0.71 / 0.8 px in the original
    np.testing.assert_allclose(new[ij[inside, 0], ij[inside, 1], :2], uv0[inside], atol=0.9)


@pytest.mark.parametrize('seed', range(5))
def test_image_aug_moves_a_marker(seed):
    """A bright square painted where a 3D point projects is found where the new lidar2img
    puts it."""
    rng = np.random.default_rng(seed)
    results = _camera_results(rng)
    img = np.full_like(results['img'][0], 30)
    point = np.array([[12.0, rng.uniform(-3, 3), rng.uniform(-1.5, 1.5)]])
    (u0, v0), = _project(results['lidar2img'][0], point)[0]
    img[int(v0) - 4:int(v0) + 5, int(u0) - 4:int(u0) + 5] = 250
    results['img'] = [img]
    np.random.seed(seed)
    out = ImageAug3D(final_size=(64, 112), resize_lim=(0.7, 0.9), bot_pct_lim=(0.0, 0.1),
                     rot_lim=(-20, 20), rand_flip=True, is_train=True)(results)
    (u1, v1), = _project(out['lidar2img'][0], point)[0]
    new = out['img'][0]
    assert new[int(round(v1)), int(round(u1))].min() > 200
    bright = np.argwhere(new[..., 0] > 140)
    np.testing.assert_allclose(bright.mean(0), [v1, u1], atol=1.0)


def test_image_aug_test_mode_deterministic():
    rng = np.random.default_rng(0)
    a = ImageAug3D(final_size=(64, 112), resize_lim=(0.7, 0.9), bot_pct_lim=(0.0, 0.2))
    out1 = a(_camera_results(rng))
    out2 = a(_camera_results(np.random.default_rng(0)))
    np.testing.assert_array_equal(out1['img'][0], out2['img'][0])
    mat = out1['img_aug_matrix'][0]
    np.testing.assert_allclose(mat[:2, :2], np.eye(2) * 0.8)  # mean resize, no flip/rotation


# ------------------------------------------------------------------- filters, packing
def test_filters():
    pcr = [-10, -10, -2, 10, 10, 2]
    pts = np.array([[0, 0, 0, 1], [11, 0, 0, 1], [0, -10, 0, 1], [0, 0, 3, 1]], np.float32)
    out = PointsRangeFilter(pcr)(dict(points=pts, ocf_points=pts.copy(),
                                      pts_semantic_mask=np.arange(4)))
    assert len(out['points']) == 1 and len(out['ocf_points']) == 1
    assert out['pts_semantic_mask'].tolist() == [0]
    boxes = np.zeros((3, 9), np.float32)
    boxes[:, 0] = [0, 12, -9]
    boxes[:, 6] = [4.0, 0, 0]
    res = dict(gt_bboxes_3d=boxes, gt_labels_3d=np.array([0, 1, 7]),
               gt_names_3d=np.array(['car', 'truck', 'pedestrian']),
               instance_tokens=np.array(['a', 'b', 'c'], dtype=object))
    res = ObjectRangeFilter(pcr)(res)
    assert res['gt_labels_3d'].tolist() == [0, 7] and res['instance_tokens'].tolist() == ['a', 'c']
    np.testing.assert_allclose(res['gt_bboxes_3d'][0, 6], 4.0 - 2 * np.pi, rtol=1e-6)
    res = ObjectNameFilter(['pedestrian', 'car'])(res)
    assert res['gt_labels_3d'].tolist() == [0, 7]
    res = ObjectNameFilter(['pedestrian'])(res)
    assert res['gt_names_3d'].tolist() == ['pedestrian'] and len(res['gt_bboxes_3d']) == 1
    res = ObjectNameFilter(['car'])(dict(gt_labels_3d=np.array([-1, 0, 3])))
    assert res['gt_labels_3d'].tolist() == [0]
    np.random.seed(0)
    pts = np.arange(40, dtype=np.float32).reshape(10, 4)
    out = PointShuffle()(dict(points=pts.copy(), pts_semantic_mask=np.arange(10)))
    assert not np.array_equal(out['points'], pts)
    np.testing.assert_array_equal(out['points'][:, 0] // 4, out['pts_semantic_mask'])


def test_pack():
    rng = np.random.default_rng(0)
    results = _camera_results(rng)
    results['img'] = results['img'] * 2
    results.update(points=np.ones((7, 5), np.float32), ocf_points=np.ones((3, 5), np.float32),
                   gt_bboxes_3d=np.ones((2, 9), np.float32), gt_labels_3d=np.array([1, 2]),
                   sample_idx=3, token='tok', lidar2ego=np.eye(4))
    out = Pack3DDetInputs()(results)
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs['points'].shape == (7, 5) and inputs['points'].dtype == torch.float32
    assert inputs['ocf_points'].shape == (3, 5)
    assert inputs['imgs'].shape == (2, 3, 90, 160) and inputs['imgs'].dtype == torch.uint8
    assert isinstance(sample, Det3DDataSample)
    assert sample.gt_instances_3d.bboxes_3d.shape == (2, 9)
    assert sample.gt_instances_3d.labels_3d.dtype == torch.long
    assert sample.sample_idx == 3 and sample.token == 'tok'
    np.testing.assert_array_equal(sample.bda_mat, np.eye(4))
    assert sample.lidar2img.shape == (1, 4, 4)
    # images of different sizes need ImageAug3D
    results['img'] = [np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)]
    with pytest.raises(ValueError, match='ImageAug3D'):
        Pack3DDetInputs()(results)


def test_build_pipeline_errors():
    steps = build_pipeline([dict(type='LoadPointsFromFile', load_dim=5, use_dim=5), len])
    assert isinstance(steps[0], LoadPointsFromFile) and steps[1] is len
    with pytest.raises(KeyError, match=r"step 1 \(type='NoSuchTransform'\)"):
        build_pipeline([dict(type='PointShuffle'), dict(type='NoSuchTransform')])
    with pytest.raises(TypeError, match=r"step 0 \(type='LoadPointsFromFile'\).*lod_dim"):
        build_pipeline([dict(type='LoadPointsFromFile', lod_dim=5)])
    with pytest.raises(TypeError, match='"type"'):
        build_pipeline([dict(load_dim=5)])


def test_image_aug_warps_label_maps_like_the_image():
    from perception_kd.datasets.transforms import ImageAug3D
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (60, 100, 3)).astype(np.uint8)
    labels = (np.arange(60)[:, None] * 100 + np.arange(100)[None]).astype(np.int64)  # pixel id
    np.random.seed(0)
    out = ImageAug3D(final_size=(32, 48), resize_lim=(0.5, 0.7), rot_lim=(-5, 5),
                     rand_flip=True, is_train=True)(
        dict(img=[img], img_superpixels=[labels], lidar2img=np.eye(4)[None]))
    warped = out['img_superpixels'][0]
    assert warped.shape == (32, 48)
    aug = out['img_aug_matrix'][0]
    # every non-zero output pixel holds the id of the source pixel that the inverse warp hits
    rows, cols = np.nonzero(warped)
    src = np.linalg.inv(np.array([[aug[0, 0], aug[0, 1], aug[0, 3]],
                                  [aug[1, 0], aug[1, 1], aug[1, 3]], [0, 0, 1]]))
    uv = src @ np.stack([cols, rows, np.ones_like(cols)]).astype(float)
    expected = np.rint(uv[1]).astype(int) * 100 + np.rint(uv[0]).astype(int)
    assert np.mean(warped[rows, cols] == expected) > 0.95
    assert len(rows) > 0.5 * warped.size
