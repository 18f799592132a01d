"""The Distiller on the CPU LiDAR -> camera config and a tiny synthetic batch: teacher
loading and its errors, frozen teacher, losses, adapters, predict, export."""
import copy
import dataclasses
import os
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from perception_kd.models.distill import Distiller, TeacherCheckpointError, model_cfg_from
from perception_kd.registry import MODELS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tiny_data (importlib mode)
from tiny_data import tiny_batch  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')
LIDAR2CAM = os.path.join(CONFIGS, 'unidistill_lidar2cam_cpu.py')
CAM2LIDAR = os.path.join(CONFIGS, 'unidistill_cam2lidar_cpu.py')


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def build(cfg_model):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg_model))


def save_checkpoint(model, path):
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return str(path)


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(LIDAR2CAM)


@pytest.fixture(scope='module')
def teacher_ckpt(cfg, tmp_path_factory):
    torch.manual_seed(0)
    teacher = build(model_cfg_from(cfg.model.teacher, 'teacher'))
    return save_checkpoint(teacher, tmp_path_factory.mktemp('teacher') / 'epoch_1.pth')


@pytest.fixture(scope='module')
def batch(cfg, tiny_root, tiny_infos):
    return tiny_batch(cfg.train_dataloader.dataset, tiny_root)


def distiller(cfg, teacher_ckpt, **changes) -> Distiller:
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = teacher_ckpt
    for key, value in changes.items():  # replace, not merge (ConfigDict.update merges)
        model_cfg[key] = value
    return build(model_cfg)


def test_teacher_is_loaded_frozen_and_never_changes(cfg, teacher_ckpt, batch):
    torch.manual_seed(1)
    model = distiller(cfg, teacher_ckpt)
    saved = torch.load(teacher_ckpt)['state_dict']
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
    model.init_weights()  # as the Runner does: must not re-initialise the teacher
    assert all(torch.equal(v, saved[k]) for k, v in model.teacher.state_dict().items())
    model.train()
    assert not model.teacher.training and model.student.training
    assert not any(p.requires_grad for p in model.teacher.parameters())

    data = model.data_preprocessor(batch, True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    student_before = {k: v.clone() for k, v in model.student.state_dict().items()}
    history = []
    for _ in range(3):
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        assert all(p.grad is None for p in model.teacher.parameters())
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert {'loss_distill_fea', 'loss_distill_rel', 'loss_distill_resp', 'loss_depth'} <= set(
        history[0]
    )
    assert any(k.startswith('loss_heatmap') or k == 'loss_heatmap' for k in history[0]) or \
        any('heatmap' in k for k in history[0])
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert history[0]['loss_distill_fea'] > 0
    # teacher weights and BN statistics unchanged, student changed
    assert all(torch.equal(v, saved[k]) for k, v in model.teacher.state_dict().items())
    assert any(not torch.equal(v, student_before[k]) for k, v in model.student.state_dict().items())


def test_distillation_pulls_the_student_to_the_teacher(cfg, teacher_ckpt, batch):
    """Optimising the distillation terms alone on one batch lowers each of them."""
    torch.manual_seed(2)
    model = distiller(cfg, teacher_ckpt)
    data = model.data_preprocessor(batch, True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    history = []
    for _ in range(8):
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        distill = {k: v for k, v in losses.items() if k.startswith('loss_distill')}
        optimizer.zero_grad()
        sum(distill.values()).backward()
        optimizer.step()
        history.append({k: v.item() for k, v in distill.items()})
    for key in history[0]:
        assert history[-1][key] < 0.95 * history[0][key], (key, [h[key] for h in history])


def test_predict_runs_the_student_only(cfg, teacher_ckpt, batch, monkeypatch):
    model = distiller(cfg, teacher_ckpt).eval()

    def boom(*args, **kwargs):
        raise AssertionError('the teacher ran in predict')
    monkeypatch.setattr(model.teacher, 'extract_feats', boom)
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
    assert len(out) == 2 and all('pred_instances_3d' in s for s in out)
    assert out[0].pred_instances_3d.bboxes_3d.shape[1] == 9


def test_batch_without_boxes(cfg, teacher_ckpt, batch):
    model = distiller(cfg, teacher_ckpt).train()
    empty = copy.deepcopy(batch)
    for sample in empty['data_samples']:
        gt = sample.gt_instances_3d
        sample.gt_instances_3d = gt[gt.labels_3d < -1]
    data = model.data_preprocessor(empty, True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert losses['loss_distill_fea'].item() == 0 and losses['loss_distill_rel'].item() == 0
    assert losses['loss_distill_resp'].item() == 0
    sum(losses.values()).backward()


def test_missing_teacher_checkpoint_names_the_training_command(cfg, tmp_path):
    with pytest.raises(TeacherCheckpointError) as err:
        distiller(cfg, str(tmp_path / 'nothing_here'))
    message = str(err.value)
    assert 'python tools/train.py' in message and 'centerpoint_lidar_cpu.py' in message
    assert 'nothing_here' in message
    with pytest.raises(TeacherCheckpointError, match='teacher_ckpt'):
        distiller(cfg, None)


def test_teacher_checkpoint_of_random_bytes_names_the_file(cfg, tmp_path):
    """Issue 14, point 7: not an UnpicklingError traceback from deep inside torch."""
    bad = tmp_path / 'teacher.pth'
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(TeacherCheckpointError, match=rf'^teacher checkpoint {bad} cannot be '
                                                     'loaded: truncated or not a torch '
                                                     'checkpoint .*model.teacher_ckpt'):
        distiller(cfg, str(bad))


def test_work_dir_resolves_to_latest_checkpoint(cfg, teacher_ckpt):
    model = distiller(cfg, os.path.dirname(teacher_ckpt))
    assert model.teacher_ckpt == teacher_ckpt


def test_mismatching_teacher_checkpoint_lists_keys(cfg, teacher_ckpt, tmp_path):
    state = torch.load(teacher_ckpt)['state_dict']
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = torch.zeros(3, 3, 1, 1)
    del state[next(k for k in state if k.endswith('running_mean'))]
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict=state), bad)
    with pytest.raises(TeacherCheckpointError) as err:
        distiller(cfg, str(bad))
    assert key in str(err.value) and 'missing' in str(err.value)


def test_config_errors(cfg, teacher_ckpt):
    with pytest.raises(KeyError, match='level'):
        distiller(
            cfg,
            teacher_ckpt,
            distill_losses=dict(loss_x=dict(type='FeatureDistillLoss', level='bev_mid')),
        )
    with pytest.raises(KeyError, match='adapter'):
        distiller(cfg, teacher_ckpt, distill_losses=dict(
            loss_x=dict(type='FeatureDistillLoss', level='bev_low', adapter='nope')))
    with pytest.raises(ValueError, match='empty'):
        distiller(cfg, teacher_ckpt, distill_losses={})


def test_teacher_input_mapping(cfg, teacher_ckpt, batch):
    model = distiller(cfg, teacher_ckpt, teacher_input=dict(points='ocf_points')).train()
    data = model.data_preprocessor(batch, True)
    with pytest.raises(KeyError, match='ocf_points'):
        model(data['inputs'], data['data_samples'], mode='loss')
    inputs = dict(data['inputs'], ocf_points=[p[:10] for p in data['inputs']['points']])
    mapped = model.teacher_inputs(inputs)
    assert mapped['points'] is inputs['ocf_points'] and 'ocf_points' not in mapped
    assert model.student_inputs(inputs)['points'] is inputs['points']
    assert 'ocf_points' not in model.student_inputs(inputs)


def test_forward_through_an_adapter_of_other_widths(cfg, teacher_ckpt, batch):
    """A student whose bev_low is 32 channels wide against the teacher's 64: the feature
    loss only works through the 32 -> 64 adapter, and the adapter gets gradients."""
    losses_cfg = copy.deepcopy(cfg.model.distill_losses)
    losses_cfg.loss_distill_fea.adapter = 'low'
    torch.manual_seed(3)
    model = distiller(cfg, teacher_ckpt, distill_losses=losses_cfg, adapters=dict(
        low=dict(type='ConvAdapter', in_channels=32, out_channels=64, kernel_size=1)))
    extract = model.student.extract_feats

    def narrow(*args, **kwargs):  # the student's first 32 bev_low channels only
        feats = extract(*args, **kwargs)
        return dataclasses.replace(feats, bev_low=feats.bev_low[:, :32])
    model.student.extract_feats = narrow
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert torch.isfinite(losses['loss_distill_fea']) and losses['loss_distill_fea'] > 0
    losses['loss_distill_fea'].backward()
    grad = model.adapters['low'].layers[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_adapters_train_with_the_student_and_are_not_exported(tmp_path, tiny_root):
    cfg = Config.fromfile(CAM2LIDAR)
    assert cfg.model.adapters, 'camera -> LiDAR uses adapters on the student levels'
    torch.manual_seed(0)
    teacher = build(model_cfg_from(cfg.model.teacher, 'teacher'))
    ckpt = save_checkpoint(teacher, tmp_path / 'cam.pth')
    model = distiller(cfg, ckpt)
    adapter_params = {f'adapters.{k}' for k, _ in model.adapters.named_parameters()}
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert adapter_params and adapter_params <= trainable
    distilled = save_checkpoint(model, tmp_path / 'distilled.pth')

    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'export_student', os.path.join(CONFIGS, '..', 'tools', 'export_student.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tool.main([CAM2LIDAR, distilled, '--out', str(tmp_path / 'student.pth')])
    exported = torch.load(out)['state_dict']
    assert not any(k.startswith(('adapters', 'teacher', 'student')) for k in exported)
    student = build(model_cfg_from(cfg.model.student, 'student'))
    student.load_state_dict(exported, strict=True)
    assert torch.equal(
        student.state_dict()[next(iter(exported))], model.student.state_dict()[next(iter(exported))]
    )
    with pytest.raises(SystemExit, match='exists'):
        tool.main([CAM2LIDAR, distilled, '--out', out])


def test_teacher_feature_scale_is_recorded_and_checked(cfg, teacher_ckpt, tmp_path, batch):
    """A LiDAR teacher trained with scaled voxel features: a Distiller configured with the
    same scaling loads it and its teacher divides exactly as the trained model did (train
    and eval mode alike); one configured without it (or with another) refuses it."""
    scale = (51.2, 51.2, 5.0, 255.0, 0.1)
    teacher_cfg = model_cfg_from(cfg.model.teacher, 'teacher')
    teacher_cfg['lidar_encoder']['voxel_encoder']['feature_scale'] = scale
    torch.manual_seed(0)
    trained = build(teacher_cfg)
    scaled_ckpt = save_checkpoint(trained, tmp_path / 'scaled.pth')

    model = distiller(cfg, scaled_ckpt, teacher=teacher_cfg)
    vfe = model.teacher.lidar_encoder.voxel_encoder
    assert torch.allclose(vfe.feature_scale, torch.tensor(scale))
    voxels = torch.rand(4, 3, 5) * 10
    num = torch.tensor([3, 2, 1, 3])
    trained.eval()
    expect = trained.lidar_encoder.voxel_encoder(voxels, num)
    model.train()
    assert torch.equal(vfe(voxels, num), expect)
    model.eval()
    assert torch.equal(vfe(voxels, num), expect)

    with pytest.raises(TeacherCheckpointError, match='feature_scale'):
        distiller(cfg, scaled_ckpt)  # the config's teacher has no scaling
    other = copy.deepcopy(teacher_cfg)
    other['lidar_encoder']['voxel_encoder']['feature_scale'] = (1, 1, 1, 1, 1)
    with pytest.raises(TeacherCheckpointError, match='feature_scale'):
        distiller(cfg, scaled_ckpt, teacher=other)
    with pytest.raises(TeacherCheckpointError, match='feature_scale'):
        distiller(cfg, teacher_ckpt, teacher=teacher_cfg)  # an unscaled checkpoint
