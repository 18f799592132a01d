"""CenterHead: targets on the BEV grid, decoding perfect responses, losses, NMS, labels."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from perception_kd.datasets.transforms.augmentation import bev_matrix, transform_boxes
from perception_kd.models.heads import CenterHead, build_center_targets
from perception_kd.models.losses import gaussian_focal_loss
from perception_kd.structures import BEVGrid, Det3DDataSample

CLASSES = ['car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
           'pedestrian', 'traffic_cone', 'barrier']
PCR = [-12.8, -6.4, -5.0, 12.8, 6.4, 3.0]
CELL = 0.4                          # W = 64 columns along x, H = 32 rows along y
GRID = BEVGrid.from_range(PCR, CELL)
# (x, y, z, l, w, h, yaw, vx, vy) and labels: a car, a pedestrian, a traffic cone, a bus
BOXES = torch.tensor([[3.3, -2.1, -0.8, 4.5, 1.9, 1.6, 0.4, 5.0, -1.0],
                      [-7.55, 4.3, -0.9, 0.7, 0.6, 1.8, -2.9, 0.5, 0.8],
                      [0.9, 0.7, -1.2, 0.4, 0.4, 0.8, 1.2, 0.0, 0.0],
                      [-3.1, -4.4, 0.2, 11.0, 2.9, 3.4, 3.0, -2.0, 0.3]])
LABELS = torch.tensor([0, 7, 8, 3])


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, spinning OpenMP threads of several
    processes make these small ops many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def head(**test_cfg):
    cfg = dict(score_threshold=0.1, nms_type='circle', nms_radius=[1.0] * 6, post_max=50)
    cfg.update(test_cfg)
    return CenterHead(in_channels=8, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                      share_channels=8, head_channels=8, test_cfg=cfg)


def sample(boxes=BOXES, labels=LABELS, bda=None):
    s = Det3DDataSample(metainfo=dict(token='tok', bda_mat=np.eye(4) if bda is None else bda))
    s.gt_instances_3d = InstanceData(bboxes_3d=boxes.clone(), labels_3d=labels.clone())
    return s


def perfect_responses(model, samples):
    """Responses that encode the targets: heatmap scores ~1 at the target peaks and a low
    copy of the Gaussians around them (below the score threshold), regression maps holding
    the targets at the centre cells."""
    targets = build_center_targets(samples, model.grid, model.task_labels, model.gaussian_overlap,
                                   model.min_radius)
    responses = []
    for target in targets:
        heat = torch.where(target.heatmap == 1, torch.tensor(1 - 1e-6), 0.05 * target.heatmap)
        heat = heat.clamp(min=1e-6)
        resp = dict(heatmap=torch.log(heat / (1 - heat)))
        b, h, w = target.heatmap.shape[0], target.heatmap.shape[2], target.heatmap.shape[3]
        reg = torch.zeros((b, 10, h, w))
        reg[target.batch, :, target.rows, target.cols] = target.reg
        for name, (lo, hi) in dict(reg=(0, 2), height=(2, 3), dim=(3, 6), rot=(6, 8),
                                   vel=(8, 10)).items():
            resp[name] = reg[:, lo:hi]
        responses.append(resp)
    return responses, targets


def match(pred, boxes, labels):
    """Indices of predictions matching each box by label and nearest centre."""
    order = []
    for box, label in zip(boxes, labels):
        dist = (pred.bboxes_3d[:, :2] - box[:2]).norm(dim=1) + 1e3 * (pred.labels_3d != label)
        order.append(int(dist.argmin()))
    return order


def angle_diff(a, b):
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def test_heatmap_peak_at_the_bevgrid_cell_of_the_box():
    model = head()
    targets = build_center_targets([sample()], model.grid, model.task_labels)
    assert [t.heatmap.shape for t in targets] == [(1, len(n), 32, 64) for n in model.task_names]
    # car: u = (3.3 + 12.8) / 0.4 = 40.25, v = (-2.1 + 6.4) / 0.4 = 10.75
    car = targets[0]
    assert car.heatmap[0, 0].max() == 1 and car.heatmap[0, 0].argmax() == 10 * 64 + 40
    assert GRID.cell_index(3.3, -2.1) == (10, 40)
    assert car.rows.tolist() == [10] and car.cols.tolist() == [40]
    expected = [0.25, 0.75, -0.8, math.log(4.5), math.log(1.9), math.log(1.6), math.sin(0.4),
                math.cos(0.4), 5.0, -1.0]
    torch.testing.assert_close(car.reg[0], torch.tensor(expected), atol=1e-5, rtol=0)
    # pedestrian (label 7) and traffic cone (label 8) share the last task: channels 0 and 1
    ped_cone = targets[5]
    assert ped_cone.labels.tolist() == [0, 1]
    for channel, (x, y) in enumerate([(-7.55, 4.3), (0.9, 0.7)]):
        row, col = GRID.cell_index(x, y)
        assert ped_cone.heatmap[0, channel, row, col] == 1
        assert int(ped_cone.heatmap[0, channel].eq(1).sum()) == 1
    assert targets[2].labels.tolist() == [0]           # bus: task (bus, trailer), channel 0
    for task in (1, 3, 4):                              # no truck, barrier, bike
        assert targets[task].heatmap.sum() == 0 and targets[task].num_objects == 0
    # radius >= min_radius 2: the Gaussian reaches 2 cells around the cone's peak
    row, col = GRID.cell_index(0.9, 0.7)
    assert ped_cone.heatmap[0, 1, row, col + 2] > 0 and ped_cone.heatmap[0, 1, row + 3, col] == 0


def test_boxes_outside_the_grid_are_skipped():
    boxes = BOXES[:2].clone()
    boxes[1, 0] = 13.0   # x beyond x_max
    targets = build_center_targets([sample(boxes, LABELS[:2])], GRID, [[0], [7]])
    assert targets[0].num_objects == 1 and targets[1].num_objects == 0
    assert targets[1].heatmap.sum() == 0


@pytest.mark.parametrize('nms_type', ['circle', 'rotate'])
def test_decoding_perfect_responses_gives_the_boxes_back(nms_type):
    model = head(nms_type=nms_type)
    samples = [sample(), sample(BOXES[:1], LABELS[:1])]
    responses, _ = perfect_responses(model, samples)
    preds = model.predict(responses, samples)
    assert len(preds) == 2
    for pred, (boxes, labels) in zip(preds, [(BOXES, LABELS), (BOXES[:1], LABELS[:1])]):
        assert len(pred) == len(boxes)
        assert pred.bboxes_3d.shape == (len(boxes), 9)
        idx = match(pred, boxes, labels)
        got = pred.bboxes_3d[idx]
        assert pred.labels_3d[idx].tolist() == labels.tolist()
        assert (pred.scores_3d > 0.99).all()
        torch.testing.assert_close(got[:, :6], boxes[:, :6], atol=1e-4, rtol=1e-4)
        assert angle_diff(got[:, 6], boxes[:, 6]).abs().max() < 1e-4
        torch.testing.assert_close(got[:, 7:], boxes[:, 7:], atol=1e-4, rtol=0)


def test_predictions_are_mapped_back_through_bda_mat():
    """Targets in the augmented frame; predictions come back in the original frame."""
    model = head()
    bda = bev_matrix(0.3, 1.04, (0.2, -0.1, 0.0), flip_x=True, flip_y=False)
    augmented = torch.from_numpy(transform_boxes(BOXES.numpy().astype(np.float64), bda)).float()
    s = sample(augmented, LABELS, bda)
    responses, _ = perfect_responses(model, [s])
    pred = model.predict(responses, [s])[0]
    assert len(pred) == len(BOXES)
    got = pred.bboxes_3d[match(pred, BOXES, LABELS)]
    torch.testing.assert_close(got[:, :6], BOXES[:, :6], atol=1e-4, rtol=1e-4)
    assert angle_diff(got[:, 6], BOXES[:, 6]).abs().max() < 1e-4
    torch.testing.assert_close(got[:, 7:], BOXES[:, 7:], atol=1e-4, rtol=0)


def test_nms_keeps_one_of_two_close_peaks():
    model = head(nms_type='circle', nms_radius=[1.0] * 6)
    boxes = BOXES[[0, 0]].clone()
    boxes[1, 0] += 0.8                                  # 2 cells further along x
    samples = [sample(boxes, LABELS[[0, 0]])]
    responses, _ = perfect_responses(model, samples)
    responses[0]['heatmap'][0, 0, 10, 42] = 3.0         # the second one scores lower
    pred = model.predict(responses, samples)[0]
    assert len(pred) == 1 and abs(float(pred.bboxes_3d[0, 0]) - 3.3) < 1e-4
    assert len(head(nms_type='circle', nms_radius=[0.5] * 6).predict(responses, samples)[0]) == 2
    assert len(head(nms_type='rotate', nms_thr=0.2).predict(responses, samples)[0]) == 1
    assert len(head(nms_type=None).predict(responses, samples)[0]) == 2


def test_nms_per_class_keeps_two_classes_of_one_task_at_one_object():
    """A bicycle that the motorcycle channel of the same task group also scores: the
    class-agnostic NMS keeps one box, the per-class NMS one of each class; a same-class
    duplicate is still suppressed."""
    boxes = torch.tensor([[3.3, -2.1, -0.8, 1.7, 0.6, 1.3, 0.4, 4.0, 0.0]])
    labels = torch.tensor([CLASSES.index('bicycle')])
    samples = [sample(boxes, labels)]
    for nms in (dict(nms_type='circle', nms_radius=[1.0] * 6), dict(nms_type='rotate')):
        model = head(**nms)
        task = next(t for t, names in enumerate(model.task_labels) if labels[0] in names)
        moto = model.task_labels[task].index(CLASSES.index('motorcycle'))
        bike = model.task_labels[task].index(int(labels[0]))
        responses, _ = perfect_responses(model, samples)
        heat = responses[task]['heatmap']
        row, col = divmod(int(heat[0, bike].flatten().argmax()), heat.shape[-1])
        heat[0, moto, row, col] = 3.0                    # the motorcycle score, lower
        heat[0, bike, row, col + 1] = 2.0                # a bicycle duplicate next to it
        agnostic = model.predict(responses, samples)[0]
        assert sorted(agnostic.labels_3d.tolist()) == [int(labels[0])]
        per_class = head(nms_per_class=True, **nms).predict(responses, samples)[0]
        assert sorted(per_class.labels_3d.tolist()) == sorted(
            [int(labels[0]), CLASSES.index('motorcycle')])
        assert per_class.scores_3d.max() > 0.99          # the bicycle box kept first


def test_losses_finite_with_and_without_boxes():
    model = head()
    x = torch.randn(2, 8, 32, 64)
    responses = model(x)
    assert len(responses) == 6
    assert set(responses[0]) == {'heatmap', 'reg', 'height', 'dim', 'rot', 'vel'}
    assert responses[1]['heatmap'].shape == (2, 2, 32, 64) and responses[0]['dim'].shape[1] == 3
    losses = model.loss(responses, [sample(), sample()])
    assert set(losses) == {'loss_heatmap', 'loss_bbox'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())

    empty = sample(torch.zeros((0, 9)), torch.zeros(0, dtype=torch.long))
    x.requires_grad_(True)
    losses = model.loss(model(x), [empty, empty])
    assert all(torch.isfinite(v) for v in losses.values()) and losses['loss_bbox'] == 0
    sum(losses.values()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for branch in model.task_heads[0].branches.values():   # every branch is in the graph
        assert branch[-1].weight.grad is not None


def test_perfect_responses_have_small_losses():
    model = head()
    samples = [sample()]
    responses, targets = perfect_responses(model, samples)
    losses = model.loss(responses, samples)
    assert losses['loss_bbox'] < 1e-4
    random = model.loss(model(torch.randn(1, 8, 32, 64)), samples)
    assert losses['loss_heatmap'] < 0.1 * random['loss_heatmap']


def test_gaussian_focal_loss_values():
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    logits = torch.zeros_like(target)     # p = 0.5
    p = 0.5
    expected = -math.log(p) * (1 - p) ** 2 + 3 * (-math.log(1 - p) * p ** 2) * 1.0
    expected -= -math.log(1 - p) * p ** 2 * (1 - (1 - 0.5) ** 4)  # the 0.5 cell's weight
    torch.testing.assert_close(gaussian_focal_loss(logits, target), torch.tensor(expected))


def test_no_velocity_and_label_mapping_errors():
    model = CenterHead(in_channels=4, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                       tasks=[dict(num_class=1, class_names=['pedestrian'])], with_velocity=False,
                       share_channels=4, head_channels=4)
    responses = model(torch.randn(1, 4, 32, 64))
    assert 'vel' not in responses[0] and model.task_labels == [[7]]
    losses = model.loss(responses, [sample()])
    assert all(torch.isfinite(v) for v in losses.values())
    pred = model.predict(responses, [sample()])[0]
    assert pred.bboxes_3d.shape[1] == 9 and set(pred.labels_3d.tolist()) <= {7}
    with pytest.raises(ValueError, match="'lorry'"):
        CenterHead(in_channels=4, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                   tasks=[['lorry']])
    with pytest.raises(ValueError, match=r'expects \(B, 8, 32, 64\)'):
        head()(torch.randn(1, 8, 64, 32))
    with pytest.raises(TypeError, match='nms_tresh'):
        head(nms_tresh=0.3)
    with pytest.raises(KeyError, match='gt_instances_3d'):
        head().loss(head()(torch.randn(1, 8, 32, 64)), [Det3DDataSample()])


def test_velocity_l2_loss_changes_only_the_velocity_term():
    """velocity_loss='l2': half the squared error, code-weighted, on (vx, vy) only; the other
    channels keep L1. Checked against the loss written out by hand from the targets."""
    samples = [sample()]
    responses, targets = perfect_responses(head(), samples)
    offset = torch.tensor([0.5, -1.0, 0.2, 0.1, 0.0, 0.3, 0.0, 0.0, 2.0, -3.0])
    for resp, target in zip(responses, targets):   # move every centre's regression
        for name, (lo, hi) in dict(reg=(0, 2), height=(2, 3), dim=(3, 6), rot=(6, 8),
                                   vel=(8, 10)).items():
            resp[name][target.batch, :, target.rows, target.cols] += offset[lo:hi]
    weights = torch.tensor([1.0] * 8 + [0.2, 0.2])
    objects = [t.num_objects for t in targets if t.num_objects]
    l1 = (weights[:8] * offset[:8].abs()).sum()
    l2 = (weights[8:] * 0.5 * offset[8:] ** 2).sum()
    got_l1 = head().loss(responses, samples)['loss_bbox']
    model = CenterHead(in_channels=8, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                       share_channels=8, head_channels=8, velocity_loss='l2')
    got_l2 = model.loss(responses, samples)['loss_bbox']
    l1_vel = (weights[8:] * offset[8:].abs()).sum()
    per_task = len(objects)          # each task with objects adds (its objects x term) / objects
    assert torch.isclose(got_l1, 0.25 * per_task * (l1 + l1_vel), rtol=1e-4)
    assert torch.isclose(got_l2, 0.25 * per_task * (l1 + l2), rtol=1e-4)
    with pytest.raises(ValueError, match='velocity_loss'):
        CenterHead(in_channels=8, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                   velocity_loss='huber')


def narrow_head(**kw):
    """A seeded 8-channel head with 1x1 branches, in eval mode (the velocity-option tests)."""
    torch.manual_seed(0)
    return CenterHead(in_channels=8, point_cloud_range=PCR, bev_cell=CELL, class_names=CLASSES,
                      share_channels=8, head_channels=8, final_kernel=1, **kw).eval()


def test_velocity_grad_scale_and_kernel():
    """velocity_grad_scale leaves every output unchanged and scales only the gradient that
    the vel branch sends into the shared input; velocity_kernel widens only the vel branch."""
    x = torch.randn(1, 8, *GRID.shape)
    plain, scaled = narrow_head(), narrow_head(velocity_grad_scale=0.25)
    grads = {}
    for name, model in (('plain', plain), ('scaled', scaled)):
        for part in ('vel', 'dim'):
            inp = x.clone().requires_grad_(True)
            out = model(inp)
            sum(r[part].sum() for r in out).backward()
            grads[name, part] = inp.grad
        outs = model(x)
        grads[name, 'out'] = torch.cat([torch.cat(list(r.values()), 1) for r in outs], 1)
    assert torch.equal(grads['plain', 'out'], grads['scaled', 'out'])
    assert torch.allclose(grads['scaled', 'vel'], 0.25 * grads['plain', 'vel'], atol=1e-6)
    assert torch.equal(grads['scaled', 'dim'], grads['plain', 'dim'])
    assert grads['plain', 'vel'].abs().sum() > 0
    wide = narrow_head(velocity_kernel=3)
    vel = wide.task_heads[0].branches['vel']
    assert [m.kernel_size for m in vel if isinstance(m, torch.nn.Conv2d)] == [(3, 3), (3, 3)]
    assert wide.task_heads[0].branches['dim'][0].kernel_size == (1, 1)
    assert wide(x)[0]['vel'].shape == (1, 2, *GRID.shape)
    dilated = narrow_head(velocity_kernel=3, velocity_dilation=3)
    convs = [m for m in dilated.task_heads[0].branches['vel'] if isinstance(m, torch.nn.Conv2d)]
    assert [(m.dilation, m.padding) for m in convs] == [((3, 3), (3, 3))] * 2
    assert dilated(x)[0]['vel'].shape == (1, 2, *GRID.shape)
    # the reach: the shared 3x3 conv (+-1) and two dilated convs (+-6): 7 cells, not 8
    probe = torch.zeros(1, 8, *GRID.shape)
    base_vel = dilated(probe)[0]['vel'][0, :, 16, 32]
    for offset, moves in ((7, True), (8, False)):
        poked = probe.clone()
        poked[0, :, 16, 32 + offset] = 5.0
        changed = not torch.allclose(dilated(poked)[0]['vel'][0, :, 16, 32], base_vel)
        assert changed == moves, offset
    with pytest.raises(ValueError, match='velocity_dilation'):
        narrow_head(velocity_dilation=0)
    with pytest.raises(ValueError, match='velocity_grad_scale'):
        narrow_head(velocity_grad_scale=1.5)
    with pytest.raises(ValueError, match='velocity_kernel'):
        narrow_head(velocity_kernel=2)


def test_velocity_side_map_feeds_only_the_velocity_branch():
    """velocity_side_channels: the vel branch reads [shared, side]; the other branches do
    not see the side map; the side map gets gradient from the velocity loss; a missing or
    misshaped side map is a clear error."""
    x = torch.randn(1, 8, *GRID.shape)
    model = narrow_head(velocity_side_channels=4)
    assert model.task_heads[0].branches['vel'][0].in_channels == 12
    assert model.task_heads[0].branches['dim'][0].in_channels == 8
    side = torch.randn(1, 4, *GRID.shape, requires_grad=True)
    out_a = model(x, motion_bev=side)
    out_b = model(x, motion_bev=side.detach() * 2 + 1)
    for ra, rb in zip(out_a, out_b):
        assert not torch.allclose(ra['vel'], rb['vel'])
        for name in ('heatmap', 'reg', 'height', 'dim', 'rot'):
            assert torch.equal(ra[name], rb[name])
    sum(r['vel'].sum() for r in out_a).backward()
    assert side.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='motion_side=True'):
        model(x)
    with pytest.raises(ValueError, match='motion_bev must be'):
        model(x, motion_bev=torch.zeros(1, 3, *GRID.shape))
    # without side channels the argument is ignored (a plain head in a motion_side model)
    plain = narrow_head()
    assert torch.equal(plain(x)[0]['vel'], plain(x, motion_bev=side)[0]['vel'])
    with pytest.raises(ValueError, match='with_velocity'):
        narrow_head(velocity_side_channels=4, with_velocity=False)
    both = narrow_head(velocity_side_channels=4, side_branches=('vel', 'rot'))
    assert both.task_heads[0].branches['rot'][0].in_channels == 12
    out_a, out_b = both(x, motion_bev=side), both(x, motion_bev=side.detach() * 2 + 1)
    assert not torch.allclose(out_a[0]['rot'], out_b[0]['rot'])
    assert torch.equal(out_a[0]['dim'], out_b[0]['dim'])
    with pytest.raises(ValueError, match='side_branches'):
        narrow_head(velocity_side_channels=4, side_branches=('speed',))
