"""Every distillation config (UniDistill paths, X-Ray; real and CPU): teacher and student
share the BEV grid, the low-level widths fit after the adapters, the published weights,
and the X-Ray routing (teacher reads the OCF, the student the raw frame)."""
import copy
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

from perception_kd.models.distill import model_cfg_from
from perception_kd.models.distill.distiller import without_pretrained
from perception_kd.registry import MODELS

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')
# the mmdet3d ones need the optional stack: tests/interop/test_mmdet3d_bridge.py
DISTILL_CONFIGS = sorted(p for p in glob.glob(os.path.join(CONFIGS, 'unidistill_*.py')) +
                         glob.glob(os.path.join(CONFIGS, 'xray_distill_*.py')) +
                         glob.glob(os.path.join(CONFIGS, 'xray_semi_distill_*.py'))
                         if 'mmdet3d' not in os.path.basename(p))
PUBLISHED = {'lidar2cam': (100, 40, 10), 'cam2lidar': (10, 5, 1), 'fusion2lidar': (10, 1, 10),
             'fusion2cam': (10, 5, 10)}


def build(cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


def low_width(model) -> int:
    """bev_low feeds the BEV backbone: its first conv's input width."""
    return next(m for m in model.bev_backbone.modules() if isinstance(m, nn.Conv2d)).in_channels


def test_all_paths_have_real_and_cpu_configs():
    names = {os.path.basename(p)[:-3] for p in DISTILL_CONFIGS}
    for path in PUBLISHED:
        assert {f'unidistill_{path}', f'unidistill_{path}_cpu'} <= names
    assert {'xray_distill_centerpoint', 'xray_distill_centerpoint_cpu'} <= names


@pytest.mark.parametrize('path', DISTILL_CONFIGS, ids=os.path.basename)
def test_teacher_and_student_fit(path):
    torch.set_num_threads(1)
    cfg = Config.fromfile(path)
    model = cfg.model
    assert model.type == 'Distiller'
    # no ImageNet files here: build without them (the Distiller does so for the teacher)
    student = build(without_pretrained(model_cfg_from(model.student, 'student')))
    teacher = build(without_pretrained(model_cfg_from(model.teacher, 'teacher')))
    assert student.head.grid == teacher.head.grid
    for name, enc in (('student', student), ('teacher', teacher)):
        if enc.camera_encoder is not None:
            assert enc.camera_encoder.grid == student.head.grid, name
    adapters = model.get('adapters') or {}
    for loss in model.distill_losses.values():
        if loss.level == 'bev_low' and loss.type == 'FeatureDistillLoss':
            width = low_width(student)
            if loss.get('adapter'):
                adapter = adapters[loss.adapter]
                assert adapter.in_channels == width
                width = adapter.out_channels
            assert width == low_width(teacher), path
    key = os.path.basename(path)[:-3].replace('unidistill_', '').replace('_cpu', '')
    if key in PUBLISHED:
        losses = model.distill_losses
        got = (losses.loss_distill_fea.weight, losses.loss_distill_rel.weight,
               losses.loss_distill_resp.weight)
        assert got == PUBLISHED[key]
    # the teacher checkpoint default is a work dir of the teacher's config
    assert model.teacher_ckpt.startswith('work_dirs/')


def test_xray_pipeline_feeds_the_ocf_to_the_teacher_only():
    cfg = Config.fromfile(os.path.join(CONFIGS, 'xray_distill_centerpoint_cpu.py'))
    assert cfg.model.teacher_input == dict(points='ocf_points')
    train = [s['type'] for s in cfg.train_dataloader.dataset.pipeline]
    assert train.index('LoadOCFPoints') == train.index('LoadPointsFromFile') + 1
    assert 'ocf_points' in cfg.train_dataloader.dataset.pipeline[-1]['keys']
    assert 'LoadOCFPoints' not in [s['type'] for s in cfg.test_dataloader.dataset.pipeline]
    teacher = Config.fromfile(os.path.join(CONFIGS, 'xray_teacher_centerpoint_cpu.py'))
    for loader in (teacher.train_dataloader, teacher.test_dataloader):
        steps = [s for s in loader.dataset.pipeline if s['type'] == 'LoadOCFPoints']
        assert len(steps) == 1 and steps[0]['out_key'] == 'points'
        assert loader.dataset.ann_file.endswith('_ocf.pkl')


@pytest.mark.parametrize('suffix', ['', '_cpu'])
def test_xray_semi_configs_wire_the_recipe(suffix):
    """Labelled detector (and its pseudo-label "test"), teacher on labelled OCFs, student on
    both parts with the OCF teacher, semi-supervised."""
    def load(name):
        return Config.fromfile(os.path.join(CONFIGS, f'{name}{suffix}.py'))
    detector = load('xray_semi_labelled_centerpoint')
    assert detector.train_dataloader.dataset.ann_file == 'nuscenes_infos_train_labelled.pkl'
    assert detector.test_dataloader.dataset.ann_file == 'nuscenes_infos_train_unlabelled.pkl'
    assert detector.test_evaluator.ann_file == 'nuscenes_infos_train_unlabelled.pkl'
    assert detector.test_evaluator.format_only
    assert detector.val_dataloader.dataset.ann_file == 'nuscenes_infos_val.pkl'
    teacher = load('xray_semi_teacher_centerpoint')
    assert teacher.train_dataloader.dataset.ann_file == 'nuscenes_infos_train_labelled_ocf_semi.pkl'
    assert teacher.test_dataloader.dataset.ann_file == 'nuscenes_infos_val_ocf_semi.pkl'
    student = load('xray_semi_distill_centerpoint')
    plain = load('xray_distill_centerpoint')
    model = student.model
    assert model.semi_supervised and model.teacher_input == dict(points='ocf_points')
    assert model.teacher.endswith(f'xray_semi_teacher_centerpoint{suffix}.py')
    assert model.teacher_ckpt == f'work_dirs/xray_semi_teacher_centerpoint{suffix}'
    assert model.distill_losses == plain.model.distill_losses
    dataset = student.train_dataloader.dataset
    assert dataset.type == 'ConcatDataset'
    assert [d.ann_file for d in dataset.datasets] == [
        'nuscenes_infos_train_labelled_ocf_semi.pkl',
        'nuscenes_infos_train_unlabelled_ocf_semi.pkl',
    ]
    for part in dataset.datasets:
        assert part.pipeline == plain.train_dataloader.dataset.pipeline
        assert part.type == 'NuScenesDataset' and part.data_root == plain.data_root
