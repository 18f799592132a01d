"""mmdet3d detectors inside the project (``MMDet3DDetector``, ``make mmdet3d``), and the two
metrics on the same predictions.

Skipped, with the command that enables them, when the optional stack is not importable.
What is checked on the tiny synthetic tree:

- mmdet3d's CenterHead targets for the project's batch are the project head's targets:
  the same grid, rows/columns, classes and regression encoding (so responses compare);
- a head output made from those targets decodes, through the bridge, back to the
  ground truth in the un-augmented frame with the dataset's labels;
- mmdet3d's CenterPoint trains through the bridge (falling loss), and its checkpoints,
  with or without the bridge's key prefix, load as a teacher;
- an mmdet3d CenterPoint teaches the project's camera student, and the project's LiDAR
  detector teaches an mmdet3d CenterPoint student (configs/unidistill_mmdet3d2cam_cpu.py,
  configs/unidistill_lidar2mmdet3d_cpu.py): falling loss, frozen teacher;
- ``NuScenesDetMetric`` equals mmdet3d's ``NuScenesMetric`` on perturbed predictions.
"""
import copy
import os
import sys

import mmengine
import numpy as np
import pytest

from perception_kd.utils.mmdet3d_compat import mmdet3d_missing

_MISSING = mmdet3d_missing()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import perception_kd  # noqa: E402
from perception_kd.constants import CLASSES  # noqa: E402
from perception_kd.datasets.transforms import transform_boxes  # noqa: E402
from perception_kd.evaluation import gt_to_predictions  # noqa: E402
from perception_kd.models.distill import model_cfg_from  # noqa: E402
from perception_kd.models.heads.center_targets import build_center_targets  # noqa: E402
from perception_kd.registry import METRICS, MODELS  # noqa: E402
from perception_kd.structures import Det3DDataSample  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models'))
from tiny_data import tiny_batch  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'configs')
MMDET3D_CP = os.path.join(CONFIGS, 'mmdet3d_centerpoint_cpu.py')
MMDET3D2CAM = os.path.join(CONFIGS, 'unidistill_mmdet3d2cam_cpu.py')
LIDAR2MMDET3D = os.path.join(CONFIGS, 'unidistill_lidar2mmdet3d_cpu.py')


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def build(cfg):
    perception_kd.register_all_modules()
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


@pytest.fixture(scope='module')
def cp_cfg():
    return Config.fromfile(MMDET3D_CP)


@pytest.fixture(scope='module')
def lidar_batch(cp_cfg, tiny_root, tiny_infos):
    return tiny_batch(cp_cfg.train_dataloader.dataset, tiny_root)


def _train(model, data, steps=6, lr=2e-3):
    """Total loss of each of ``steps`` AdamW steps on one batch."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    history = []
    for _ in range(steps):
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(total)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    return history, losses


def test_bridge_targets_are_the_project_head_targets(cp_cfg, lidar_batch):
    bridge = build(cp_cfg.model)
    data = bridge.data_preprocessor(lidar_batch, True)
    head = bridge.detector.pts_bbox_head
    heatmaps, anno_boxes, inds, masks = head.get_targets(
        [s.gt_instances_3d for s in data['data_samples']])
    ours = build_center_targets(lidar_batch['data_samples'], bridge.grid, bridge.task_labels)
    assert len(heatmaps) == len(ours) == 6
    objects = 0
    for task, (theirs, mine) in enumerate(zip(heatmaps, ours)):
        assert theirs.shape == mine.heatmap.shape, task
        np.testing.assert_allclose(theirs.numpy(), mine.heatmap.numpy(), atol=1e-6)
        width = theirs.shape[-1]
        for b in range(len(lidar_batch['data_samples'])):
            sel = masks[task][b].bool()
            rows, cols = inds[task][b][sel] // width, inds[task][b][sel] % width
            mine_b = mine.batch == b
            got = {(int(r), int(c)): box for r, c, box in
                   zip(rows, cols, anno_boxes[task][b][sel].numpy())}
            want = {(int(r), int(c)): box for r, c, box in
                    zip(mine.rows[mine_b], mine.cols[mine_b], mine.reg[mine_b].numpy())}
            assert got.keys() == want.keys()
            for key in got:   # (du, dv, z, log l, log w, log h, sin, cos, vx, vy)
                np.testing.assert_allclose(got[key], want[key], atol=1e-5)
            objects += len(got)
    assert objects >= 5


def test_responses_from_targets_decode_to_the_ground_truth(cp_cfg, lidar_batch):
    """Head maps written from mmdet3d's own targets -> bridge.predict -> the ground truth
    (un-augmented by bda_mat, dataset labels, centre-based z)."""
    bridge = build(cp_cfg.model).eval()
    data = bridge.data_preprocessor(lidar_batch, False)
    head = bridge.detector.pts_bbox_head
    _, anno_boxes, inds, masks = head.get_targets(
        [s.gt_instances_3d for s in data['data_samples']])
    feats = bridge.extract_feats(data['inputs'], data['data_samples'])
    responses = []
    for task, response in enumerate(feats.responses):
        maps = {k: torch.zeros_like(v) for k, v in response.items()}
        maps['heatmap'].fill_(-10.0)
        height, width = maps['heatmap'].shape[-2:]
        offsets = np.cumsum([0, 2, 1, 3, 2, 2])   # reg, height, dim, rot, vel
        for b in range(len(data['data_samples'])):
            gts = data['data_samples'][b].gt_instances_3d
            task_names = head.class_names[task]
            for k in torch.nonzero(masks[task][b]).flatten():
                r, c = divmod(int(inds[task][b][k]), width)
                box = anno_boxes[task][b][k]
                for (name, start), stop in zip(zip(('reg', 'height', 'dim', 'rot', 'vel'),
                                                   offsets[:-1]), offsets[1:]):
                    maps[name][b, :, r, c] = box[start:stop]
                # the class of this object: the gt whose centre cell is (r, c)
                centres = gts.bboxes_3d.gravity_center[:, :2]
                cell = ((centres - torch.tensor([-51.2, -51.2])) / 0.8).floor().long()
                hit = (cell[:, 0] == c) & (cell[:, 1] == r)
                label = int(gts.labels_3d[hit][0])
                flat = [n for names in head.class_names for n in names]
                maps['heatmap'][b, task_names.index(flat[label]), r, c] = 10.0
        responses.append(maps)
    feats.responses = responses
    out = bridge.predict(data['inputs'], data['data_samples'], feats=feats)
    compared = 0
    for sample, pred in zip(lidar_batch['data_samples'], out):
        assert isinstance(pred, Det3DDataSample)
        gt = sample.gt_instances_3d
        inv = np.linalg.inv(np.asarray(sample.metainfo['bda_mat'], dtype=np.float64))
        want = transform_boxes(gt.bboxes_3d.numpy().astype(np.float64), inv)
        inside = (np.abs(gt.bboxes_3d[:, :2].numpy()) < 51.2).all(1)
        got = pred.pred_instances_3d
        assert len(got.bboxes_3d) == int(inside.sum())
        for box, label in zip(want[inside], gt.labels_3d[inside]):
            dist = np.linalg.norm(got.bboxes_3d[:, :2].numpy() - box[:2], axis=1)
            j = int(dist.argmin())
            assert dist[j] < 1e-3
            np.testing.assert_allclose(got.bboxes_3d[j, 2:6].numpy(), box[2:6], atol=1e-3)
            yaw = np.angle(np.exp(1j * (float(got.bboxes_3d[j, 6]) - box[6])))
            assert abs(yaw) < 1e-3
            np.testing.assert_allclose(got.bboxes_3d[j, 7:].numpy(), box[7:], atol=1e-3)
            assert int(got.labels_3d[j]) == int(label)
            compared += 1
    assert compared >= 5


def test_task_heads_are_initialised_despite_the_upstream_module_list(cp_cfg):
    torch.manual_seed(0)
    fixed = build(cp_cfg.model)
    fixed.init_weights()
    as_is = build(dict(cp_cfg.model, fix_head_init=False))
    as_is.init_weights()
    for bridge, want in ((fixed, True), (as_is, False)):
        for task_head in bridge.detector.pts_bbox_head.task_heads:
            bias = task_head.heatmap[-1].bias
            assert torch.allclose(bias, torch.full_like(bias, task_head.init_bias)) == want


def test_mmdet3d_centerpoint_trains_through_the_bridge(cp_cfg, lidar_batch):
    torch.manual_seed(0)
    bridge = build(cp_cfg.model)
    bridge.init_weights()   # as the runner does
    data = bridge.data_preprocessor(lidar_batch, True)
    feats = bridge.extract_feats(data['inputs'], data['data_samples'])
    assert feats.bev_low.shape[-2:] == feats.bev_high.shape[-2:] == (128, 128)
    assert feats.bev_low.shape[1] == 64 and feats.bev_high.shape[1] == 64
    assert [list(r) for r in feats.responses][0] == ['reg', 'height', 'dim', 'rot', 'vel',
                                                     'heatmap']
    history, losses = _train(bridge, data, steps=6)
    assert {'task0.loss_heatmap', 'task0.loss_bbox'} <= set(losses)
    assert history[-1] < 0.8 * history[0], history
    # spconv layers run the Native algorithm on CPU (chosen by the bridge's hook)
    from spconv.core import ConvAlgo

    from perception_kd.ops.spconv_utils import spconv_layers
    assert all(m.algo == ConvAlgo.Native for m in spconv_layers(bridge.detector))


def test_mmdet3d_teacher_teaches_the_camera_student(tiny_root, tiny_infos, tmp_path, cp_cfg):
    """configs/unidistill_mmdet3d2cam_cpu.py; the teacher checkpoint in mmdet3d's own key
    layout (no `detector.` prefix)."""
    torch.manual_seed(0)
    teacher = build(cp_cfg.model)
    state = {k[len('detector.'):]: v for k, v in teacher.state_dict().items()}
    ckpt = str(tmp_path / 'mmdet3d_centerpoint.pth')
    torch.save(dict(state_dict=state, meta={}), ckpt)
    cfg = Config.fromfile(MMDET3D2CAM)
    cfg.model.teacher_ckpt = ckpt
    model = build(cfg.model)
    assert type(model.teacher).__name__ == 'MMDet3DDetector'
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher.state_dict()[key]), key
    batch = tiny_batch(cfg.train_dataloader.dataset, tiny_root)
    data = model.data_preprocessor(batch, True)
    history, losses = _train(model, data, steps=6, lr=1e-3)
    assert {'loss_distill_fea', 'loss_distill_rel', 'loss_distill_resp'} <= set(losses)
    assert history[-1] < history[0], history
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher.state_dict()[key]), key
    assert not model.teacher.training


def test_project_teacher_teaches_an_mmdet3d_student(tiny_root, tiny_infos, tmp_path):
    """configs/unidistill_lidar2mmdet3d_cpu.py: the student is mmdet3d's CenterPoint."""
    torch.manual_seed(0)
    cfg = Config.fromfile(LIDAR2MMDET3D)
    teacher = build(model_cfg_from(cfg.model.teacher, 'teacher'))
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), ckpt)
    cfg.model.teacher_ckpt = ckpt
    model = build(cfg.model)
    assert type(model.student).__name__ == 'MMDet3DDetector'
    batch = tiny_batch(cfg.train_dataloader.dataset, tiny_root)
    data = model.data_preprocessor(batch, True)
    history, losses = _train(model, data, steps=6, lr=2e-3)
    assert {'loss_distill_fea', 'loss_distill_rel', 'loss_distill_resp',
            'task0.loss_heatmap'} <= set(losses)
    assert history[-1] < 0.9 * history[0], history
    model.eval()
    out = model(data['inputs'], data['data_samples'], mode='predict')
    assert len(out) == 2 and all(o.pred_instances_3d.bboxes_3d.shape[1] == 9 for o in out)


def _perturbed(info, gen):
    """The sample's ground truth as predictions, moved, resized, turned, re-scored, with
    some boxes dropped and some false positives added (project layout)."""
    pred = gt_to_predictions(info)
    boxes = pred.bboxes_3d.numpy().astype(np.float64)
    n = len(boxes)
    boxes[:, :2] += gen.normal(0, 0.6, (n, 2))
    boxes[:, 2] += gen.normal(0, 0.2, n)
    boxes[:, 3:6] *= np.exp(gen.normal(0, 0.15, (n, 3)))
    boxes[:, 6] += gen.normal(0, 0.4, n)
    boxes[:, 7:9] += gen.normal(0, 1.0, (n, 2))
    scores = gen.uniform(0.2, 1.0, n)
    labels = pred.labels_3d.numpy()
    keep = gen.uniform(size=n) > 0.15
    extra = max(2, n // 5)
    fp = np.concatenate([gen.uniform(-40, 40, (extra, 2)), gen.uniform(-1, 1, (extra, 1)),
                         gen.uniform(0.5, 4, (extra, 3)), gen.uniform(-np.pi, np.pi, (extra, 1)),
                         gen.normal(0, 2, (extra, 2))], 1)
    boxes = np.concatenate([boxes[keep], fp])
    scores = np.concatenate([scores[keep], gen.uniform(0.05, 0.6, extra)])
    labels = np.concatenate([labels[keep], gen.integers(0, len(CLASSES), extra)])
    return boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)


def test_metrics_agree_on_perturbed_predictions(tiny_root, tiny_infos, tmp_path):
    from mmdet3d.evaluation.metrics import NuScenesMetric
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    infos = mmengine.load(tiny_infos['val'])['data_list']
    gen = np.random.default_rng(0)
    ours, theirs = [], []
    for idx, info in enumerate(infos):
        boxes, scores, labels = _perturbed(info, gen)
        sample = Det3DDataSample(metainfo=dict(token=info['token']))
        sample.pred_instances_3d = InstanceData(bboxes_3d=torch.from_numpy(boxes),
                                                scores_3d=torch.from_numpy(scores),
                                                labels_3d=torch.from_numpy(labels))
        ours.append(sample)
        theirs.append(dict(sample_idx=idx, pred_instances=dict(), pred_instances_3d=dict(
            bboxes_3d=LiDARInstance3DBoxes(torch.from_numpy(boxes), box_dim=9,
                                           origin=(0.5, 0.5, 0.5)),
            scores_3d=torch.from_numpy(scores), labels_3d=torch.from_numpy(labels))))
    perception_kd.register_all_modules()
    with DefaultScope.overwrite_default_scope('perception_kd'):
        metric = METRICS.build(dict(type='NuScenesDetMetric', data_root=tiny_root,
                                    ann_file=tiny_infos['val'], version='v1.0-mini',
                                    jsonfile_prefix=str(tmp_path / 'ours')))
    metric.process({}, ours)
    mine = metric.evaluate(len(ours))
    other = NuScenesMetric(data_root=tiny_root, ann_file=tiny_infos['val'], metric='bbox',
                           jsonfile_prefix=str(tmp_path / 'theirs'))
    other.dataset_meta = dict(classes=list(CLASSES), version='v1.0-mini')
    other.process({}, theirs)
    got = other.evaluate(len(theirs))
    def find(suffix):
        keys = [k for k in got if k.endswith(suffix)]
        assert len(keys) == 1, (suffix, sorted(got))
        return got[keys[0]]
    assert 0.05 < mine['NuScenes/mAP'] < 0.95   # perturbed: neither perfect nor empty
    for name in ('mAP', 'NDS'):
        assert mine[f'NuScenes/{name}'] == pytest.approx(find(f'NuScenes/{name}'), abs=1e-9), name
    # mmdet3d rounds the TP errors and per-distance APs to 4 decimals
    for name in ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE'):
        assert mine[f'NuScenes/{name}'] == pytest.approx(find(f'NuScenes/{name}'), abs=5.1e-5), name
    for name in CLASSES:
        for dist in ('0.5', '1.0', '2.0', '4.0'):
            key = f'{name}_AP_dist_{dist}'
            assert mine[f'NuScenes/{key}'] == pytest.approx(find(f'NuScenes/{key}'), abs=5.1e-5)


def test_project_spconv_weights_load_after_mmdet3d_import():
    """mmdet3d's import replaces spconv's state-dict loader by one that permutes weights
    without version metadata; the compat guard keeps plain dicts (our prefix handling) in
    the current layout and still converts a state dict that says it is spconv 1.x."""
    from spconv.pytorch import SparseModule, SubMConv3d
    assert getattr(SparseModule._load_from_state_dict, '_pkd_versionless_is_v2', False)
    torch.manual_seed(0)
    src, dst = SubMConv3d(4, 4, 3, bias=False), SubMConv3d(4, 4, 3, bias=False)
    plain = {k: v.clone() for k, v in src.state_dict().items()}   # no _metadata
    dst.load_state_dict(plain)
    assert torch.equal(dst.weight, src.weight)
    old = src.state_dict()   # as mmcv's spconv 1.x stored it: (k, k, k, in, out), version 1
    old['weight'] = src.weight.detach().permute(1, 2, 3, 4, 0).clone()
    old._metadata[''] = dict(version=1)
    dst2 = SubMConv3d(4, 4, 3, bias=False)
    dst2.load_state_dict(old)
    assert torch.equal(dst2.weight, src.weight)
