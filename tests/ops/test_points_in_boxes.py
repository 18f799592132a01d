"""Torch points-in-boxes against hand cases, the numpy twin and the nuScenes devkit."""
import importlib
import math

import numpy as np
import pytest
import torch
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from perception_kd.ops import points_in_boxes, points_in_boxes_idx
from perception_kd.structures import points_in_boxes as points_in_boxes_np


def random_scene(seed, num_points=3000, num_boxes=12):
    """Points (P, 5) and boxes (M, 9) around the origin, in one frame."""
    gen = np.random.default_rng(seed)
    uniform = gen.uniform
    boxes = np.concatenate([uniform(-10, 10, (num_boxes, 2)), uniform(-1, 1, (num_boxes, 1)),
                            uniform(0.5, 6, (num_boxes, 3)), uniform(-np.pi, np.pi, (num_boxes, 1)),
                            gen.normal(size=(num_boxes, 2))], 1)
    points = np.concatenate([uniform(-13, 13, (num_points, 2)), uniform(-4, 4, (num_points, 1)),
                             uniform(0, 1, (num_points, 2))], 1)
    return points, boxes


def test_hand_made_axis_aligned_and_rotated():
    boxes = torch.tensor([[0.0, 0.0, 0.0, 4.0, 2.0, 2.0, 0.0],             # x [-2, 2], y [-1, 1]
                          [10.0, 0.0, 0.0, 4.0, 2.0, 2.0, math.pi / 2]])   # x [9, 11], y [-2, 2]
    points = torch.tensor([[1.9, 0.9, 0.9],    # inside box 0
                           [2.0, 1.0, 1.0],    # on box 0's corner: closed intervals -> inside
                           [2.1, 0.0, 0.0],    # just past box 0's front face
                           [0.0, 1.5, 0.0],    # beyond box 0's width
                           [0.0, 0.0, -1.2],   # below box 0
                           [10.5, 1.8, 0.0],   # inside rotated box 1 (length now along y)
                           [11.5, 0.0, 0.0]])  # outside box 1 (its width is along x)
    mask = points_in_boxes(points, boxes)
    assert mask.tolist() == [[True, False], [True, False], [False, False], [False, False],
                             [False, False], [False, True], [False, False]]
    assert points_in_boxes_idx(points, boxes).tolist() == [0, 0, -1, -1, -1, 1, -1]


def test_idx_takes_lowest_box_of_overlaps():
    boxes = torch.tensor([[0.0, 0, 0, 2, 2, 2, 0], [0.5, 0, 0, 2, 2, 2, 0]])
    points = torch.tensor([[0.8, 0, 0], [1.4, 0, 0], [-0.8, 0, 0]])
    assert points_in_boxes_idx(points, boxes).tolist() == [0, 1, 0]


def test_matches_numpy_twin_in_float64():
    points, boxes = random_scene(0)
    ours = points_in_boxes(torch.from_numpy(points), torch.from_numpy(boxes))
    assert ours.any()
    np.testing.assert_array_equal(ours.numpy(), points_in_boxes_np(points, boxes))


def test_float32_and_chunking(monkeypatch):
    points, boxes = random_scene(1)
    full = points_in_boxes(torch.from_numpy(points).float(), torch.from_numpy(boxes).float())
    module = importlib.import_module('perception_kd.ops.points_in_boxes')
    monkeypatch.setattr(module, '_CHUNK_ELEMENTS', 100)
    chunked = points_in_boxes(torch.from_numpy(points).float(), torch.from_numpy(boxes).float())
    assert torch.equal(full, chunked)
    np.testing.assert_array_equal(full.numpy(), points_in_boxes_np(points, boxes))


def test_matches_devkit_points_in_box():
    points, boxes = random_scene(2)
    ours = points_in_boxes(torch.from_numpy(points), torch.from_numpy(boxes)).numpy()
    assert ours.any(0).sum() >= len(boxes) // 2
    for m, box in enumerate(boxes):
        devkit = Box(center=box[:3], size=[box[4], box[3], box[5]],
                     orientation=Quaternion(axis=[0, 0, 1], angle=box[6]))
        expected = points_in_box(devkit, points[:, :3].T)
        np.testing.assert_array_equal(ours[:, m], expected, err_msg=f'box {m}')


def test_empty_inputs_and_bad_shapes():
    assert points_in_boxes(torch.zeros(0, 3), torch.zeros(2, 7)).shape == (0, 2)
    assert points_in_boxes_idx(torch.zeros(4, 3), torch.zeros(0, 7)).tolist() == [-1] * 4
    with pytest.raises(ValueError):
        points_in_boxes(torch.zeros(4, 2), torch.zeros(1, 7))
    with pytest.raises(ValueError):
        points_in_boxes(torch.zeros(4, 3), torch.zeros(1, 6))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('seed', range(4))
def test_sorted_method_equals_dense(seed, dtype, monkeypatch):
    """The sorted strips give the dense answer bit for bit, also for points on faces and
    corners, overlapping boxes, NaN points, and strips split into several groups."""
    points, boxes = random_scene(seed, num_points=4000, num_boxes=30)
    boxes[:5, 6] = [0.0, np.pi / 2, np.pi, -np.pi / 2, np.pi / 4]
    boxes[5] = boxes[4]                           # an exact duplicate (overlap)
    boxes[6, 3:6] = 30.0                          # a box holding most points
    cos, sin = np.cos(boxes[:5, 6]), np.sin(boxes[:5, 6])
    on_faces = []
    for m in range(5):   # corners and face centres of the first boxes
        for u, v, w in ((1, 1, 1), (1, 0, 0), (0, -1, 0), (-1, -1, -1)):
            lx, ly, lz = u * boxes[m, 3] / 2, v * boxes[m, 4] / 2, w * boxes[m, 5] / 2
            on_faces.append([boxes[m, 0] + lx * cos[m] - ly * sin[m],
                             boxes[m, 1] + lx * sin[m] + ly * cos[m], boxes[m, 2] + lz, 0, 0])
    points = np.concatenate([points, on_faces, [[np.nan, 0, 0, 0, 0], [0, np.nan, 0, 0, 0]]])
    pts, bxs = torch.from_numpy(points).to(dtype), torch.from_numpy(boxes).to(dtype)
    dense = points_in_boxes(pts, bxs, method='dense')
    assert dense[-len(on_faces) - 2:-2].any() and dense[:, 6].sum() > 1000
    assert torch.equal(points_in_boxes(pts, bxs, method='sorted'), dense)
    idx = points_in_boxes_idx(pts, bxs, method='dense')
    assert torch.equal(points_in_boxes_idx(pts, bxs, method='sorted'), idx)
    assert torch.equal(points_in_boxes_idx(pts, bxs), idx)        # auto: sorted (30 boxes)
    module = importlib.import_module('perception_kd.ops.points_in_boxes')
    monkeypatch.setattr(module, '_CHUNK_ELEMENTS', 800)            # groups of <= 100 pairs
    assert torch.equal(points_in_boxes(pts, bxs, method='sorted'), dense)
    assert torch.equal(points_in_boxes_idx(pts, bxs, method='sorted'), idx)
    if dtype == torch.float64:
        np.testing.assert_array_equal(dense.numpy(), points_in_boxes_np(points, boxes))


def test_bad_method():
    with pytest.raises(ValueError, match='method must be one of'):
        points_in_boxes(torch.zeros(4, 3), torch.zeros(1, 7), method='mmcv')
