"""Rotated BEV IoU and NMS on hand-made boxes (and shapely on random ones)."""
import math

import numpy as np
import pytest
import torch

from perception_kd.ops import bev_iou, bev_iou_aligned, circle_nms, nms_bev
from perception_kd.structures import bev_corners


def box(x, y, l, w, yaw=0.0, z=0.0, h=1.0):
    return [x, y, z, l, w, h, yaw]


def iou(a, b):
    a, b = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    return bev_iou(a, b)[0, 0].item()


def test_identical_and_disjoint():
    a = box(3, -2, 4, 2, 0.7)
    assert iou(a, a) == pytest.approx(1.0, abs=1e-9)
    assert iou(a, box(30, -2, 4, 2, 0.7)) == 0.0
    assert iou(box(0, 0, 2, 2), box(2, 0, 2, 2)) == pytest.approx(0.0, abs=1e-12)   # touching edges


def test_square_and_its_45_degree_turn():
    # Intersection: the unit-half square |x|,|y| <= 1 cut by |x| + |y| <= sqrt(2), a regular
    # octagon = 4 - 4 corner triangles with legs 2 - sqrt(2): 8 sqrt(2) - 8.
    inter = 8 * math.sqrt(2) - 8
    expected = inter / (4 + 4 - inter)
    assert expected == pytest.approx(1 / math.sqrt(2))
    assert iou(box(0, 0, 2, 2), box(0, 0, 2, 2, math.pi / 4)) == pytest.approx(expected, abs=1e-9)
    # Invariant to a common rotation and translation of the pair.
    assert iou(box(5, 1, 2, 2, 0.3), box(5, 1, 2, 2, 0.3 + math.pi / 4)) == \
        pytest.approx(expected, abs=1e-9)


def test_hand_made_overlaps():
    assert iou(box(0, 0, 2, 2), box(2, 1, 4, 2)) == pytest.approx(1 / 11)        # 1 / (4 + 8 - 1)
    assert iou(box(0, 0, 4, 2), box(2, 1, 4, 2)) == pytest.approx(2 / 14)        # 2x1 overlap
    assert iou(box(0, 0, 4, 2), box(0, 0, 4, 2, math.pi / 2)) == pytest.approx(4 / 12)   # 2x2 cross
    assert iou(box(0, 0, 4, 4), box(0.5, 0.5, 1, 2, 1.0)) == pytest.approx(2 / 16)       # contained
    assert iou(box(0, 0, 2, 2), box(0, 0, 2, 2, math.pi)) == pytest.approx(1.0)
    # z and height play no part in BEV IoU.
    assert iou(box(0, 0, 4, 2), box(0, 0, 4, 2, z=50.0, h=9.0)) == pytest.approx(1.0)


def test_pairwise_matches_shapely_and_is_symmetric():
    from shapely.geometry import Polygon
    gen = np.random.default_rng(0)
    n = 40
    boxes = torch.from_numpy(np.concatenate([gen.uniform(-4, 4, (n, 2)), np.zeros((n, 1)),
                                             gen.uniform(0.5, 5, (n, 3)),
                                             gen.uniform(-np.pi, np.pi, (n, 1))], 1))
    ious = bev_iou(boxes, boxes)
    polys = [Polygon(c) for c in bev_corners(boxes).numpy()]
    expected = np.array([[p.intersection(q).area / p.union(q).area for q in polys] for p in polys])
    assert (expected > 0.05).sum() > n     # plenty of real overlaps
    np.testing.assert_allclose(ious.numpy(), expected, atol=1e-9)
    assert torch.allclose(ious, ious.T, atol=1e-9)
    assert torch.allclose(bev_iou_aligned(boxes, boxes.flip(0)), ious.diagonal(0).new_tensor(
        expected[np.arange(n), np.arange(n)[::-1]]), atol=1e-9)


def test_float32_and_empty():
    a = torch.tensor([box(0, 0, 2, 2)], dtype=torch.float32)
    b = torch.tensor([box(0, 0, 2, 2, math.pi / 4)], dtype=torch.float32)
    assert bev_iou(a, b).item() == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    assert bev_iou(a, torch.zeros(0, 7)).shape == (1, 0)
    # Small boxes far from the origin in float32: no cancellation in the shoelace sum.
    far = torch.tensor([box(50.3, -40.7, 0.4, 0.3, yaw) for yaw in (0.1, 1.3, -2.9)])
    assert torch.allclose(bev_iou_aligned(far, far), torch.ones(3), atol=1e-4)
    # Degenerate (zero-area) boxes give IoU 0, not NaN.
    flat = torch.tensor([box(0, 0, 0, 0)])
    assert bev_iou(flat, flat).tolist() == [[0.0]] and bev_iou(flat, a).tolist() == [[0.0]]
    assert nms_bev(torch.zeros(0, 7), torch.zeros(0), 0.5).tolist() == []
    assert circle_nms(torch.zeros(0, 2), torch.zeros(0), 1.0).tolist() == []


def test_nms_bev_keeps_the_right_boxes():
    boxes = torch.tensor([box(0, 0, 2, 2),                    # 0: best
                          box(0, 0, 2, 2, math.pi / 4),       # 1: IoU 0.707 with 0 -> out
                          box(10, 0, 2, 2),                   # 2: alone -> kept
                          box(0.1, 0, 2, 2),                  # 3: IoU ~0.9 with 0 -> out
                          box(2, 1, 4, 2),                    # 4: IoU 1/11 with 0 -> kept
                          box(0, 0, 4, 2)],                   # 5: IoU exactly 0.5 with 0 -> kept
                         dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.3, 0.85, 0.5, 0.4])
    assert nms_bev(boxes, scores, 0.5).tolist() == [0, 4, 5, 2]
    assert nms_bev(boxes, scores, 0.5, post_max=2).tolist() == [0, 4]
    assert nms_bev(boxes, scores, 0.5, pre_max=3).tolist() == [0]      # 0, 3, 1 considered
    # Suppressed boxes do not suppress: 1 overlaps 5 (IoU 0.44) but 1 is gone before 5.
    assert nms_bev(boxes, scores, 0.4).tolist() == [0, 4, 2]


def test_circle_nms():
    centres = torch.tensor([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [3.0, 1.0], [0.0, 1.0]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.6, 0.1])
    # 1 is best and suppresses 0 (0.5 m); 3 suppresses 2 (1 m, inclusive); 4 is 1.118 m from 1.
    assert circle_nms(centres, scores, 1.0).tolist() == [1, 3, 4]
    assert circle_nms(centres, scores, 0.4).tolist() == [1, 0, 3, 2, 4]
    assert circle_nms(centres, scores, 1.0, post_max=2).tolist() == [1, 3]
    assert circle_nms(centres, scores, 1.0, post_max=0).tolist() == []
