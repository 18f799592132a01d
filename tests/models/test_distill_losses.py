"""UniDistill key points, sampling, response mask and the three losses, against geometry
and against straightforward per-box implementations of the formulas written here."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from perception_kd.models.distill import (
    DistillTargets,
    FeatureDistillLoss,
    KeypointSampler,
    RelationDistillLoss,
    ResponseDistillLoss,
    box_keypoints,
    response_mask,
)
from perception_kd.structures import BEVGrid, Det3DDataSample

GRID = BEVGrid.from_range([-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 0.8)   # 128 x 128
EPS = 1e-4


def sample_with(boxes, labels=None) -> Det3DDataSample:
    sample = Det3DDataSample()
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 9)
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=boxes, labels_3d=torch.zeros(len(boxes), dtype=torch.long) if labels is None
        else torch.as_tensor(labels))
    return sample


def random_boxes(n, generator):
    xy = torch.rand(n, 2, generator=generator) * 80 - 40
    size = torch.rand(n, 3, generator=generator) * 4 + 0.5
    yaw = torch.rand(n, 1, generator=generator) * 6.28 - 3.14
    return torch.cat([xy, torch.zeros(n, 1), size, yaw, torch.zeros(n, 2)], 1)


def targets_for(samples):
    return DistillTargets.build(KeypointSampler(GRID), samples)


def test_keypoints_of_a_rotated_box_are_where_geometry_says():
    # l=4 along the heading, w=2; yaw 90 degrees: the length runs along +y
    box = torch.tensor([[1.0, 2.0, 0.0, 4.0, 2.0, 1.5, math.pi / 2]])
    expected = torch.tensor([[0.0, 4.0], [0.0, 0.0], [2.0, 0.0], [2.0, 4.0],   # c1..c4
                             [1.0, 2.0],                                       # centre
                             [0.0, 2.0], [1.0, 0.0], [2.0, 2.0], [1.0, 4.0]])  # midpoints
    assert torch.allclose(box_keypoints(box)[0], expected, atol=1e-5)
    # 30 degrees, by the rotation formula
    yaw = math.radians(30)
    box = torch.tensor([[-3.0, 5.0, 0.0, 6.0, 2.0, 1.5, yaw]])
    c, s = math.cos(yaw), math.sin(yaw)
    corner = [-3.0 + 3.0 * c - 1.0 * s, 5.0 + 3.0 * s + 1.0 * c]
    assert torch.allclose(box_keypoints(box)[0, 0], torch.tensor(corner), atol=1e-5)
    assert torch.allclose(box_keypoints(box)[0, :4].mean(0), torch.tensor([-3.0, 5.0]), atol=1e-5)


@pytest.mark.parametrize('row,col', [(70, 40), (0, 0), (127, 5), (64, 64)])
def test_sampling_a_one_hot_map_at_a_box_centred_on_the_cell(row, col):
    feat = torch.zeros(1, 3, *GRID.shape)
    feat[0, 1, row, col] = 1.0
    x, y = GRID.cell_centre(row, col)
    box = torch.tensor([[x, y, 0.0, 8.0, 4.0, 1.5, 0.3]])
    values = KeypointSampler(GRID).sample(feat, [box_keypoints(box)])   # (1, 9, 3)
    assert values[0, 4].tolist() == pytest.approx([0.0, 1.0, 0.0])     # centre reads the cell
    assert values[0, [0, 1, 2, 3]].abs().max() == 0                      # corners are cells away
    # a transposed (x <-> y) reading would see the other cell
    if row != col:
        assert KeypointSampler(GRID).sample(feat.transpose(2, 3).contiguous(),
                                            [box_keypoints(box)])[0, 4, 1] == 0


def test_valid_boxes_and_empty_batches():
    inside = [0, 0, 0, 4, 2, 1.5, 0, 0, 0]
    off_grid = [60, 0, 0, 4, 2, 1.5, 0, 0, 0]
    flat = [5, 5, 0, 0, 2, 1.5, 0, 0, 0]
    boxes = KeypointSampler(GRID).valid_boxes(
        [sample_with([inside, off_grid, flat]), sample_with([])]
    )
    assert [len(b) for b in boxes] == [1, 0]
    targets = targets_for([sample_with([]), sample_with([])])
    assert float(targets.num_boxes) == 0
    student = torch.randn(2, 4, *GRID.shape, requires_grad=True)
    for loss in (FeatureDistillLoss(), RelationDistillLoss()):
        value = loss(student, torch.randn_like(student), targets)
        assert value.item() == 0
        value.backward()  # still part of the graph
    assert targets.mask.shape == (2, *GRID.shape) and targets.mask.sum() == 0


def hand_gaussian_radius(h, w, overlap):
    """CornerNet's three cases, the roots as in CenterPoint (written out again here)."""
    r1 = ((h + w) + math.sqrt((h + w) ** 2 - 4 * w * h * (1 - overlap) / (1 + overlap))) / 2
    r2 = (2 * (h + w) + math.sqrt((2 * (h + w)) ** 2 - 16 * (1 - overlap) * w * h)) / 2
    a3, b3, c3 = 4 * overlap, -2 * overlap * (h + w), (overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def test_response_mask_matches_a_hand_computed_gaussian():
    row, col = 60, 40
    x, y = GRID.cell_centre(row, col)
    l, w = 4.8, 2.4                                  # 6 x 3 cells
    mask = response_mask([torch.tensor([[x, y, 0.0, l, w, 1.5, 0.4, 0.0, 0.0]])], GRID)[0]
    radius = int(hand_gaussian_radius(l / 0.8, w / 0.8, 0.7))
    assert radius == 1
    sigma = (2 * radius + 1) / 6
    expected = torch.zeros(GRID.shape)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            expected[row + dr, col + dc] = math.exp(-(dr * dr + dc * dc) / (2 * sigma * sigma))
    assert torch.allclose(mask, expected, atol=1e-6)
    # min_radius widens it; two boxes merge by max
    wide = response_mask(
        [torch.tensor([[x, y, 0, l, w, 1.5, 0, 0, 0], [x + 1.6, y, 0, l, w, 1.5, 0, 0, 0]])],
        GRID,
        min_radius=2,
    )[0]
    assert wide[row, col] == 1 and wide[row, col + 2] == 1
    assert wide[row, col + 1] == pytest.approx(math.exp(-1 / (2 * (5 / 6) ** 2)), abs=1e-6)


def responses(generator, batch=2, tasks=(1, 2, 2, 1, 2, 2)):
    return [dict(heatmap=torch.randn(batch, n, *GRID.shape, generator=generator),
                 reg=torch.randn(batch, 2, *GRID.shape, generator=generator),
                 height=torch.randn(batch, 1, *GRID.shape, generator=generator),
                 dim=torch.randn(batch, 3, *GRID.shape, generator=generator),
                 rot=torch.randn(batch, 2, *GRID.shape, generator=generator),
                 vel=torch.randn(batch, 2, *GRID.shape, generator=generator)) for n in tasks]


def perturbed(resp, scale, generator):
    return [{k: v + scale * torch.randn(v.shape, generator=generator) for k, v in task.items()}
            for task in resp]


def test_each_loss_is_zero_for_equal_maps_and_grows_with_divergence():
    g = torch.Generator().manual_seed(0)
    samples = [sample_with(random_boxes(5, g)), sample_with(random_boxes(3, g))]
    targets = targets_for(samples)
    teacher = torch.randn(2, 8, *GRID.shape, generator=g)
    noise = torch.randn(teacher.shape, generator=g)
    for loss in (FeatureDistillLoss(), RelationDistillLoss()):
        values = [loss(teacher + s * noise, teacher, targets).item() for s in (0.0, 0.1, 0.5, 2.0)]
        assert values[0] == pytest.approx(0.0, abs=1e-6)
        assert values[1] < values[2] < values[3], (type(loss).__name__, values)
    t_resp = responses(g)
    # the student's scores equal the teacher's tempered scores: logit_S = logit_T / 2
    same = [
        {k: (v / 2 if k == 'heatmap' else v.clone()) for k, v in task.items()} for task in t_resp
    ]
    loss = ResponseDistillLoss()
    values = [loss(perturbed(same, s, g), t_resp, targets).item() for s in (0.0, 0.1, 0.5, 2.0)]
    assert values[0] == pytest.approx(0.0, abs=1e-5)
    assert values[1] < values[2] < values[3], values


def loop_reference(student, teacher, s_resp, t_resp, samples):
    """The spec's formulas, box by box, with torch's grid_sample replaced by explicit
    bilinear interpolation."""
    def bilinear(feat, x, y):
        u, v = (x - GRID.x_min) / GRID.cell - 0.5, (y - GRID.y_min) / GRID.cell - 0.5
        j0, i0 = math.floor(u), math.floor(v)
        out = torch.zeros(feat.shape[0])
        for i, j, wgt in (
            (i0, j0, (1 - (u - j0)) * (1 - (v - i0))),
            (i0, j0 + 1, (u - j0) * (1 - (v - i0))),
            (i0 + 1, j0, (1 - (u - j0)) * (v - i0)),
            (i0 + 1, j0 + 1, (u - j0) * (v - i0)),
        ):
            if 0 <= i < GRID.height and 0 <= j < GRID.width:
                out += wgt * feat[:, i, j]
        return out

    def points(box):
        x, y, l, w, yaw = (float(box[k]) for k in (0, 1, 3, 4, 6))
        c, s = math.cos(yaw), math.sin(yaw)
        corners = [(x + a * c - b * s, y + a * s + b * c)
                   for a, b in ((l / 2, w / 2), (-l / 2, w / 2), (-l / 2, -w / 2), (l / 2, -w / 2))]
        mids = [
            (
                (corners[k][0] + corners[(k + 1) % 4][0]) / 2,
                (corners[k][1] + corners[(k + 1) % 4][1]) / 2,
            )
            for k in range(4)
        ]
        return corners + [(x, y)] + mids

    fea, rel, n = 0.0, 0.0, 0
    for b, sample in enumerate(samples):
        for box in sample.gt_instances_3d.bboxes_3d:
            n += 1
            fs = torch.stack([bilinear(student[b], *p) for p in points(box)])
            ft = torch.stack([bilinear(teacher[b], *p) for p in points(box)])
            fea += (fs - ft).abs().mean().item()
            rs = torch.zeros(9, 9)
            rt = torch.zeros(9, 9)
            for p in range(9):
                for q in range(9):
                    rs[p, q] = (fs[p] @ fs[q]) / ((fs[p].norm() + EPS) * (fs[q].norm() + EPS))
                    rt[p, q] = (ft[p] @ ft[q]) / ((ft[p].norm() + EPS) * (ft[q].norm() + EPS))
            rel += (rs - rt).abs().mean().item()
    # response: the mask from the hand-computed radius, max over classes, mean over channels
    mask = torch.zeros(len(samples), *GRID.shape)
    for b, sample in enumerate(samples):
        for box in sample.gt_instances_3d.bboxes_3d:
            row = math.floor((float(box[1]) - GRID.y_min) / GRID.cell)
            col = math.floor((float(box[0]) - GRID.x_min) / GRID.cell)
            r = max(
                0,
                int(
                    hand_gaussian_radius(float(box[3]) / GRID.cell, float(box[4]) / GRID.cell, 0.7)
                ),
            )
            sigma = (2 * r + 1) / 6
            for dr in range(-r, r + 1):
                for dc in range(-r, r + 1):
                    if 0 <= row + dr < GRID.height and 0 <= col + dc < GRID.width:
                        value = math.exp(-(dr * dr + dc * dc) / (2 * sigma * sigma))
                        mask[b, row + dr, col + dc] = max(mask[b, row + dr, col + dc].item(), value)
    s_score = (
        torch.cat([t['heatmap'] for t in s_resp], 1).sigmoid().clamp(1e-4, 1 - 1e-4).max(1).values
    )
    t_score = (torch.cat([t['heatmap'] for t in t_resp], 1) / 2).sigmoid().max(1).values
    keys = ('reg', 'height', 'dim', 'rot', 'vel')
    s_reg = torch.cat([t[k] for t in s_resp for k in keys], 1)
    t_reg = torch.cat([t[k] for t in t_resp for k in keys], 1)
    resp = ((mask * (s_score - t_score).abs()).sum() / (mask.sum() + EPS)
            + (mask * (s_reg - t_reg).abs().mean(1)).sum() / (mask.sum() + EPS)).item()
    return fea / (n + EPS), rel / (n + EPS), resp


def test_losses_match_a_per_box_reference_on_random_inputs():
    g = torch.Generator().manual_seed(1)
    samples = [sample_with(random_boxes(4, g)), sample_with(random_boxes(2, g))]
    student = torch.randn(2, 6, *GRID.shape, generator=g)
    teacher = torch.randn(2, 6, *GRID.shape, generator=g)
    s_resp, t_resp = responses(g), responses(g)
    targets = targets_for(samples)
    fea, rel, resp = loop_reference(student, teacher, s_resp, t_resp, samples)
    assert FeatureDistillLoss()(student, teacher, targets).item() == pytest.approx(fea, rel=1e-4)
    assert RelationDistillLoss()(student, teacher, targets).item() == pytest.approx(rel, rel=1e-4)
    assert ResponseDistillLoss()(s_resp, t_resp, targets).item() == pytest.approx(resp, rel=1e-4)


def test_loss_errors_name_the_problem():
    g = torch.Generator().manual_seed(2)
    targets = targets_for([sample_with(random_boxes(2, g))])
    with pytest.raises(ValueError, match='adapter'):
        FeatureDistillLoss()(
            torch.randn(1, 4, *GRID.shape), torch.randn(1, 8, *GRID.shape), targets
        )
    # relations do not need equal widths
    RelationDistillLoss()(torch.randn(1, 4, *GRID.shape), torch.randn(1, 8, *GRID.shape), targets)
    with pytest.raises(ValueError, match='task groups'):
        ResponseDistillLoss()(responses(g, 1)[:2], responses(g, 1), targets)
    with pytest.raises(ValueError, match='grid'):
        FeatureDistillLoss()(torch.randn(1, 4, 64, 64), torch.randn(1, 4, 64, 64), targets)
