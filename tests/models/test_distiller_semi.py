"""The semi-supervised Distiller (configs/xray_semi_distill_centerpoint_cpu.py) on batches of
the tiny semi-supervised tree: detection loss on labelled samples only, distillation on
all, and the marker checks."""
import copy
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from perception_kd.models.distill import model_cfg_from
from perception_kd.models.distill.losses import DistillTargets
from perception_kd.registry import DATASETS, MODELS

CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                      'xray_semi_distill_centerpoint_cpu.py')


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def build(cfg, registry=MODELS):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return registry.build(copy.deepcopy(cfg))


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CONFIG)


@pytest.fixture(scope='module')
def teacher_ckpt(cfg, tmp_path_factory):
    torch.manual_seed(0)
    teacher = build(model_cfg_from(cfg.model.teacher, 'teacher'))
    path = tmp_path_factory.mktemp('semi_teacher') / 'epoch_1.pth'
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), path)
    return str(path)


@pytest.fixture(scope='module')
def samples(cfg, tiny_semi):
    """The semi config's training dataset on the tiny tree: 4 labelled samples (scene-0061)
    then 4 unlabelled ones (scene-0103, oracle pseudo boxes), one pass of the pipeline."""
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    for part in dataset_cfg.datasets:
        part.data_root = tiny_semi['root']
    torch.manual_seed(0)
    import numpy as np
    np.random.seed(0)
    dataset = build(dataset_cfg, DATASETS)
    assert len(dataset) == 8
    return [dataset[i] for i in range(8)]


def batch_of(samples, indices):
    return pseudo_collate([copy.deepcopy(samples[i]) for i in indices])


def distiller(cfg, teacher_ckpt, **changes):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = teacher_ckpt
    for key, value in changes.items():
        model_cfg[key] = value
    torch.manual_seed(1)
    return build(model_cfg)


def test_markers_reach_the_model(samples):
    flags = [s['data_samples'].metainfo['labelled'] for s in samples]
    assert flags == [True] * 4 + [False] * 4
    assert all(len(s['data_samples'].gt_instances_3d) > 0 for s in samples)
    assert all('ocf_points' in s['inputs'] for s in samples)


def test_detection_loss_on_the_labelled_samples_only(cfg, teacher_ckpt, samples):
    model = distiller(cfg, teacher_ckpt).eval()     # BN on running statistics: per sample
    assert model.semi_supervised
    mixed = model.data_preprocessor(batch_of(samples, [4, 0, 5, 1]), True)
    with torch.no_grad():
        losses = model(mixed['inputs'], mixed['data_samples'], mode='loss')
        alone = model.data_preprocessor(batch_of(samples, [0, 1]), True)
        batch = model.student.data_preprocessor(
            dict(inputs=model.student_inputs(alone['inputs']), data_samples=alone['data_samples']),
            True)
        expected = model.student.loss(batch['inputs'], batch['data_samples'])
        # with the unlabelled samples' pseudo boxes, the loss would differ
        everything = model.student.data_preprocessor(
            dict(inputs=model.student_inputs(mixed['inputs']),
                 data_samples=mixed['data_samples']), True)
        all_boxes = model.student.loss(everything['inputs'], everything['data_samples'])
    for key in ('loss_heatmap', 'loss_bbox'):
        torch.testing.assert_close(losses[key], expected[key], rtol=1e-4, atol=1e-6)
        assert abs(losses[key] - all_boxes[key]) > 1e-3
    assert {'loss_distill_fea', 'loss_distill_resp'} <= set(losses)


def test_unlabelled_samples_are_distilled_on_their_pseudo_boxes(cfg, teacher_ckpt, samples):
    model = distiller(cfg, teacher_ckpt).train()
    data = model.data_preprocessor(batch_of(samples, [4, 5]), True)     # unlabelled only
    targets = DistillTargets.build(model.sampler, data['data_samples'])
    for boxes, sample in zip(targets.boxes, data['data_samples']):
        assert sample.metainfo['labelled'] is False and len(boxes) > 0
        pseudo = sample.gt_instances_3d.bboxes_3d
        assert all((pseudo == box).all(1).any() for box in boxes)    # key points on pseudo boxes
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert losses['loss_heatmap'].item() == 0 and losses['loss_bbox'].item() == 0
    assert losses['loss_heatmap'].requires_grad                     # still in the graph
    assert losses['loss_distill_fea'].item() > 0 and losses['loss_distill_resp'].item() > 0
    model.zero_grad()
    sum(losses.values()).backward()
    grads = [p.grad for p in model.student.parameters() if p.requires_grad]
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    # the detection terms alone give zero gradients
    model.zero_grad()
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    (losses['loss_heatmap'] + losses['loss_bbox']).backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.student.parameters())


def test_labelled_batches_are_unchanged(cfg, teacher_ckpt, samples):
    data = batch_of(samples, [0, 1])
    semi = distiller(cfg, teacher_ckpt).eval()
    plain = distiller(cfg, teacher_ckpt, semi_supervised=False).eval()
    plain.load_state_dict(semi.state_dict())
    with torch.no_grad():
        a = semi(**semi.data_preprocessor(data, True), mode='loss')
        b = plain(**plain.data_preprocessor(data, True), mode='loss')
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_marker_errors(cfg, teacher_ckpt, samples):
    plain = distiller(cfg, teacher_ckpt, semi_supervised=False).train()
    data = plain.data_preprocessor(batch_of(samples, [0, 4]), True)
    with pytest.raises(ValueError, match='unlabelled samples.*semi_supervised=True'):
        plain(data['inputs'], data['data_samples'], mode='loss')
    semi = distiller(cfg, teacher_ckpt).train()
    for sample in data['data_samples']:
        sample.set_metainfo({'labelled': None})
    with pytest.raises(KeyError, match="no 'labelled'.*meta_keys"):
        semi(data['inputs'], data['data_samples'], mode='loss')
