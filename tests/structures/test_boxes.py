"""Property tests of the box helpers against the nuScenes devkit."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from perception_kd.structures import (
    GlobalBoxes,
    bev_corners,
    box_corners,
    global_to_lidar_boxes,
    lidar_to_global_boxes,
    limit_yaw,
    make_transform,
    points_in_boxes,
    rotz,
)

settings.register_profile('pkd', deadline=None, max_examples=60)
settings.load_profile('pkd')

coord = st.floats(-60.0, 60.0, allow_nan=False)
extent = st.floats(0.1, 12.0, allow_nan=False)
yaw = st.floats(-np.pi, np.pi, allow_nan=False, exclude_max=True)
speed = st.floats(-20.0, 20.0, allow_nan=False)
box9 = st.tuples(coord, coord, st.floats(-3.0, 3.0), extent, extent, extent, yaw, speed,
                 speed).map(lambda b: np.array(b, dtype=np.float64))
boxes9 = st.lists(box9, min_size=1, max_size=6).map(np.stack)
small_angle = st.floats(-0.05, 0.05, allow_nan=False)


@st.composite
def lidar2global(draw, tilt=True):
    """Yaw anywhere, small roll/pitch (a vehicle on a slope), translation up to a few km."""
    rot = Quaternion(axis=[0, 0, 1], angle=draw(yaw))
    if tilt:
        rot = rot * Quaternion(axis=[1, 0, 0], angle=draw(small_angle)) * \
            Quaternion(axis=[0, 1, 0], angle=draw(small_angle))
    translation = [draw(st.floats(-3e3, 3e3)), draw(st.floats(-3e3, 3e3)), draw(st.floats(-5, 5))]
    return make_transform(rot.rotation_matrix, translation)


def devkit_box(box):
    return Box(center=box[:3], size=[box[4], box[3], box[5]],
               orientation=Quaternion(axis=[0, 0, 1], angle=box[6]))


@given(boxes9, lidar2global(tilt=False))
def test_lidar_global_round_trip(boxes, transform):
    gboxes = lidar_to_global_boxes(boxes, transform)
    assert isinstance(gboxes, GlobalBoxes) and len(gboxes) == len(boxes)
    back = global_to_lidar_boxes(gboxes, transform)
    np.testing.assert_allclose(back[:, :6], boxes[:, :6], atol=1e-6)
    np.testing.assert_allclose(limit_yaw(back[:, 6] - boxes[:, 6]), 0.0, atol=1e-9)
    np.testing.assert_allclose(back[:, 7:9], boxes[:, 7:9], atol=1e-6)


@given(boxes9, lidar2global(tilt=True))
def test_lidar_global_round_trip_tilted(boxes, transform):
    """Under roll/pitch, pose and size stay exact; velocity (2D in both frames) is only
    kept up to the cosine of the tilt."""
    back = global_to_lidar_boxes(lidar_to_global_boxes(boxes, transform), transform)
    np.testing.assert_allclose(back[:, :6], boxes[:, :6], atol=1e-6)
    np.testing.assert_allclose(limit_yaw(back[:, 6] - boxes[:, 6]), 0.0, atol=1e-9)
    speed = np.linalg.norm(boxes[:, 7:9], axis=1)
    error = np.linalg.norm(back[:, 7:9] - boxes[:, 7:9], axis=1)
    assert np.all(error <= 0.01 * speed + 1e-9)


@given(boxes9, lidar2global())
def test_lidar_to_global_matches_devkit(boxes, transform):
    """The global box equals the devkit's Box moved by the same transform."""
    gboxes = lidar_to_global_boxes(boxes, transform)
    rot = Quaternion(matrix=transform[:3, :3], atol=1e-7)
    for i, box in enumerate(boxes):
        ref = devkit_box(box)
        ref.rotate(rot)
        ref.translate(transform[:3, 3])
        np.testing.assert_allclose(gboxes.translation[i], ref.center, atol=1e-6)
        np.testing.assert_allclose(gboxes.size[i], ref.wlh)
        q = Quaternion(gboxes.rotation[i])
        assert Quaternion.absolute_distance(q, ref.orientation) < 1e-6
        # velocity: rotated into the global frame, then its xy part
        expected = (transform[:3, :3] @ np.array([box[7], box[8], 0.0]))[:2]
        np.testing.assert_allclose(gboxes.velocity[i], expected, atol=1e-9)


def test_seven_column_boxes_have_unknown_velocity():
    gboxes = lidar_to_global_boxes(np.array([[0, 0, 0, 4, 2, 1.5, 0.0]]), np.eye(4))
    assert np.isnan(gboxes.velocity).all()
    back = global_to_lidar_boxes(gboxes, np.eye(4))
    assert back.shape == (1, 9) and np.isnan(back[0, 7:]).all()


@given(boxes9)
def test_box_corners_match_devkit(boxes):
    corners = box_corners(boxes)
    assert corners.shape == (len(boxes), 8, 3)
    for i, box in enumerate(boxes):
        np.testing.assert_allclose(corners[i], devkit_box(box).corners().T, atol=1e-9)
    torch_corners = box_corners(torch.from_numpy(boxes))
    np.testing.assert_allclose(torch_corners.numpy(), corners, atol=1e-9)


@given(boxes9)
def test_bev_corners_order_and_area(boxes):
    bev = bev_corners(boxes)
    assert bev.shape == (len(boxes), 4, 2)
    # front-left, rear-left, rear-right, front-right = top face corners 0, 4, 5, 1
    np.testing.assert_allclose(bev, box_corners(boxes)[:, [0, 4, 5, 1], :2], atol=1e-9)
    x, y = bev[..., 0], bev[..., 1]
    signed_area = 0.5 * (x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1)
    np.testing.assert_allclose(signed_area, boxes[:, 3] * boxes[:, 4], rtol=1e-9)  # CCW
    # the first corner is ahead of the centre along the heading, to its left
    heading = np.stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])], 1)
    left = np.stack([-heading[:, 1], heading[:, 0]], 1)
    rel = bev[:, 0] - boxes[:, :2]
    np.testing.assert_allclose((rel * heading).sum(1), boxes[:, 3] / 2, atol=1e-9)
    np.testing.assert_allclose((rel * left).sum(1), boxes[:, 4] / 2, atol=1e-9)
    np.testing.assert_allclose(bev_corners(torch.from_numpy(boxes)).numpy(), bev, atol=1e-9)


@given(boxes9, st.integers(0, 2**31 - 1))
def test_points_in_boxes_matches_devkit(boxes, seed):
    rng = np.random.default_rng(seed)
    # points around every box, some inside, some outside
    centres = boxes[rng.integers(0, len(boxes), 400), :3]
    points = centres + rng.uniform(-1, 1, (400, 3)) * np.max(boxes[:, 3:6]) * 0.8
    points = np.concatenate([points, rng.uniform(-1, 1, (400, 1))], 1)  # intensity column
    # keep away from faces, where float rounding may decide either way
    for box in boxes:
        local = (points[:, :3] - box[:3]) @ rotz(box[6])
        gap = np.abs(np.abs(local) - box[3:6] / 2).min(1)
        points = points[gap > 1e-6]
    assume(len(points) > 0)
    mask = points_in_boxes(points, boxes)
    assert mask.shape == (len(points), len(boxes)) and mask.dtype == bool
    for i, box in enumerate(boxes):
        np.testing.assert_array_equal(mask[:, i], points_in_box(devkit_box(box), points[:, :3].T))
    chunked = points_in_boxes(points, boxes, chunk=7)
    np.testing.assert_array_equal(chunked, mask)


def test_points_in_boxes_edges_and_empty():
    box = np.array([[0.0, 0.0, 0.0, 2.0, 1.0, 1.0, 0.0]])
    mask = points_in_boxes(np.array([[1.0, 0.5, 0.5], [1.01, 0, 0], [0, 0, 0]]), box)
    assert mask[:, 0].tolist() == [True, False, True]  # closed intervals, as the devkit
    assert points_in_boxes(np.zeros((0, 3)), box).shape == (0, 1)
    assert points_in_boxes(np.zeros((5, 3)), np.zeros((0, 7))).shape == (5, 0)
    with pytest.raises(ValueError, match='shape'):
        points_in_boxes(np.zeros((5, 3)), np.zeros((2, 6)))


@given(st.floats(-100, 100, allow_nan=False))
def test_limit_yaw(angle):
    wrapped = limit_yaw(angle)
    assert -np.pi <= wrapped < np.pi + 1e-12
    assert np.cos(wrapped) == pytest.approx(np.cos(angle), abs=1e-9)
    assert np.sin(wrapped) == pytest.approx(np.sin(angle), abs=1e-9)
