"""Point-to-pixel pairing: a hand-computed projection and the real tiny-tree calibrations."""
import numpy as np
import pytest

from perception_kd.datasets.transforms import bev_matrix
from perception_kd.structures import project_points_to_cameras, transform_points


def _camera(forward, right, down, focal=100.0, centre=(50.0, 40.0)):
    """lidar2img of a camera at the LiDAR origin with the given axes (LiDAR frame)."""
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = np.stack([right, down, forward])   # rows: camera x, y, z
    intrinsics = np.eye(4)
    intrinsics[:3, :3] = [[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]]
    return intrinsics @ lidar2cam


def _rig():
    """Cameras looking along +x, -x and +y of the LiDAR (z up)."""
    down = (0, 0, -1)
    return np.stack([_camera((1, 0, 0), (0, -1, 0), down), _camera((-1, 0, 0), (0, 1, 0), down),
                     _camera((0, 1, 0), (1, 0, 0), down)])


def test_known_point_projects_to_known_pixel():
    # (10, -2, 1) in the +x camera: x_cam = 2, y_cam = -1, z_cam = 10 -> u = 100*2/10+50 = 70,
    # v = 100*(-1)/10+40 = 30.  (3, 8, 0.5) in the +y camera: x_cam = 3, y_cam = -0.5,
    # z_cam = 8 -> u = 87.5, v = 33.75; it is also in front of the +x camera (z_cam = 3) but
    # at u = 100*(-8)/3 + 50 < 0, outside.
    points = np.array([[10.0, -2.0, 1.0], [3.0, 8.0, 0.5], [0.5, 0.0, 0.0], [-20.0, 0.0, 50.0]])
    pairs = project_points_to_cameras(points, _rig(), (80, 100), min_depth=1.0)
    got = {(int(p), int(c)): (int(r), int(k), float(d)) for p, c, r, k, d in
           zip(pairs.point_index, pairs.cam_index, pairs.row, pairs.col, pairs.depth)}
    assert got == {(0, 0): (30, 70, 10.0), (1, 2): (33, 87, 8.0)}
    arr = pairs.as_array()
    assert arr.dtype == np.int64 and arr.shape == (2, 4)
    # point 2 is at depth 0.5 < min_depth; point 3 is above the -x camera's image
    assert len(project_points_to_cameras(points[2:3], _rig(), (80, 100), min_depth=0.1)) == 1


def test_two_cameras_and_per_camera_shapes():
    lidar2img = np.stack([_rig()[0], _rig()[0]])
    pairs = project_points_to_cameras(np.array([[10.0, -2.0, 1.0]]), lidar2img,
                                      [(80, 100), (20, 60)])
    assert pairs.cam_index.tolist() == [0]    # the second image is too small (u = 70 >= 60)
    pairs = project_points_to_cameras(np.array([[10.0, -2.0, 1.0]]), lidar2img, (80, 100))
    assert pairs.cam_index.tolist() == [0, 1] and pairs.point_index.tolist() == [0, 0]


@pytest.mark.parametrize('seed', [0, 1])
def test_bda_mat_is_undone(seed):
    rng = np.random.default_rng(seed)
    points = rng.uniform(-30, 30, (500, 3))
    plain = project_points_to_cameras(points, _rig(), (80, 100))
    mat = bev_matrix(rng.uniform(-0.4, 0.4), rng.uniform(0.9, 1.1), rng.normal(0, 1, 3),
                     True, bool(seed))
    moved = project_points_to_cameras(transform_points(mat, points), _rig(), (80, 100),
                                      bda_mat=mat)
    np.testing.assert_array_equal(plain.as_array(), moved.as_array())


def test_bad_shapes():
    with pytest.raises(ValueError, match='lidar2img'):
        project_points_to_cameras(np.zeros((3, 3)), np.eye(4), (10, 10))
    with pytest.raises(ValueError, match='img_shape'):
        project_points_to_cameras(np.zeros((3, 3)), _rig(), [(10, 10)])


def _tiny_samples(tiny_root, tiny_infos, count=4):
    from perception_kd.datasets import NuScenesDataset
    dataset = NuScenesDataset(
        tiny_root, tiny_infos['train'], modality=dict(use_lidar=True, use_camera=True),
        pipeline=[dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                  dict(type='LoadMultiViewImages')], test_mode=True)
    return [dataset[i] for i in range(min(count, len(dataset)))]


def test_tiny_tree_overlaps(tiny_root, tiny_infos):
    for results in _tiny_samples(tiny_root, tiny_infos):
        names = results['cam_names']
        points = results['points']
        pairs = project_points_to_cameras(points, results['lidar2img'], results['img_shape'])
        seen = np.zeros((len(points), len(names)), dtype=bool)
        seen[pairs.point_index, pairs.cam_index] = True
        front, front_left, back = (names.index(n) for n in
                                   ('CAM_FRONT', 'CAM_FRONT_LEFT', 'CAM_BACK'))
        assert (seen[:, front] & seen[:, front_left]).sum() > 20
        assert not (seen[:, front] & seen[:, back]).any()
        fraction = seen.any(1).mean()
        assert 0.3 < fraction < 0.98, fraction
        assert seen.sum(1).max() <= 2          # at most two neighbouring cameras
        assert (pairs.depth > 1.0).all()
