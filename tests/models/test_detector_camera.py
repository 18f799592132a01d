"""Camera and fusion BEVDetectors from their CPU configs on a tiny synthetic batch."""
import copy
import os
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from perception_kd.models import BEVDetector, BEVFeatures
from perception_kd.registry import MODELS
from perception_kd.structures import BEVGrid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tiny_data (importlib mode)
from tiny_data import tiny_batch  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')


def load(name: str) -> Config:
    return Config.fromfile(os.path.join(CONFIGS, name))


def build_model(cfg_model) -> BEVDetector:
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg_model))


def overfit(model, batch, steps: int, lr: float = 2e-3):
    """Train ``model`` on one batch; the first and the last step's losses."""
    data = model.data_preprocessor(batch, training=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    history = []
    for _ in range(steps):
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    return history[0], history[-1]


def grids(model_cfg) -> set:
    """Every (range, cell) a model config puts its BEV maps on."""
    found = {(tuple(model_cfg.head.point_cloud_range[:2] + model_cfg.head.point_cloud_range[3:5]),
              model_cfg.head.bev_cell)}
    if model_cfg.get('camera_encoder'):
        vt = model_cfg.camera_encoder.view_transform
        found.add((tuple(vt.point_cloud_range[:2] + vt.point_cloud_range[3:5]), vt.bev_cell))
    return found


@pytest.mark.parametrize('name,lidar,cells', [
    ('bevdepth_cam.py', 'centerpoint_lidar.py', (180, 180)),
    ('bevdepth_cam_cpu.py', 'centerpoint_lidar_cpu.py', (128, 128)),
    ('bevfusion.py', 'centerpoint_lidar.py', (180, 180)),
    ('bevfusion_cpu.py', 'centerpoint_lidar_cpu.py', (128, 128))])
def test_configs_share_the_lidar_grid(name, lidar, cells):
    cfg, lidar_cfg = load(name), load(lidar)
    assert grids(cfg.model) == grids(lidar_cfg.model)
    ((rng, cell),) = grids(cfg.model)
    assert BEVGrid(*rng, cell).shape == cells
    assert cfg.point_cloud_range == lidar_cfg.point_cloud_range
    steps = {s['type']: s for s in cfg.train_pipeline}
    assert steps['PointsRangeFilter']['point_cloud_range'] == cfg.point_cloud_range
    assert steps['ImageAug3D']['final_size'] == cfg.final_size
    assert steps['Pack3DDetInputs']['keys'][:2] == ['points', 'img']


def test_fusion_cpu_parts_equal_the_single_modality_configs():
    fusion, lidar, camera = (load(n).model for n in ('bevfusion_cpu.py', 'centerpoint_lidar_cpu.py',
                                                      'bevdepth_cam_cpu.py'))
    for key in ('lidar_encoder', 'bev_backbone', 'bev_neck', 'head'):
        assert fusion[key] == lidar[key], key
    assert fusion.data_preprocessor == lidar.data_preprocessor
    assert fusion.camera_encoder == camera.camera_encoder
    assert load('bevfusion_cpu.py').sweeps_num == load('centerpoint_lidar_cpu.py').sweeps_num
    assert fusion.fuser.in_channels == [lidar.bev_backbone.in_channels,
                                        camera.camera_encoder.view_transform.out_channels]
    assert fusion.fuser.out_channels == lidar.bev_backbone.in_channels


@pytest.mark.parametrize('name', ['bevdepth_cam_cpu.py', 'bevfusion_cpu.py'])
def test_cpu_detector_modes(name, tiny_root, tiny_infos):
    cfg = load(name)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    data = model.data_preprocessor(
        tiny_batch(cfg.train_dataloader.dataset, tiny_root), training=True
    )
    inputs, samples = data['inputs'], data['data_samples']
    model.train()
    losses = model(inputs, samples, mode='loss')
    assert {'loss_heatmap', 'loss_bbox', 'loss_depth'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.camera_encoder.backbone.conv1.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        feats = model(inputs, samples, mode='tensor')
        assert isinstance(feats, BEVFeatures)
        assert feats.bev_low.shape[-2:] == feats.bev_high.shape[-2:] == (128, 128)
        assert feats.aux['depth'].shape == (12, 118, 4, 11)
        preds = model(inputs, samples, mode='predict')
    assert len(preds) == 2
    for pred in preds:
        boxes = pred.pred_instances_3d.bboxes_3d
        assert boxes.shape[1] == 9 and len(pred.pred_instances_3d.scores_3d) == len(boxes)


def test_camera_detector_overfits_one_batch(tiny_root, tiny_infos):
    """Tiny widths and a 64 x 64 BEV grid (1.6 m cells): detection and depth losses fall."""
    cfg = load('bevdepth_cam_cpu.py')
    model_cfg = copy.deepcopy(cfg.model)
    enc = model_cfg.camera_encoder
    enc.backbone.base_channels = 8
    enc.neck.update(in_channels=[32, 64], out_channels=16)
    enc.view_transform.update(in_channels=16, out_channels=16, mid_channels=16, bev_cell=1.6)
    model_cfg.bev_backbone.update(in_channels=16, out_channels=(16, 32))
    model_cfg.bev_neck.update(in_channels=(16, 32), out_channels=(16, 16))
    model_cfg.head.update(in_channels=32, share_channels=16, head_channels=16, bev_cell=1.6)
    torch.manual_seed(0)
    first, last = overfit(
        build_model(model_cfg), tiny_batch(cfg.train_dataloader.dataset, tiny_root), steps=25
    )
    assert sum(last.values()) < 0.6 * sum(first.values()), (first, last)
    assert last['loss_depth'] < first['loss_depth'] and last['loss_heatmap'] < first['loss_heatmap']


def test_fusion_detector_overfits_one_batch(tiny_root, tiny_infos):
    """The fusion CPU model with a narrow camera branch: detection and depth losses fall."""
    cfg = load('bevfusion_cpu.py')
    model_cfg = copy.deepcopy(cfg.model)
    enc = model_cfg.camera_encoder
    enc.backbone.base_channels = 8
    enc.neck.update(in_channels=[32, 64], out_channels=16)
    enc.view_transform.update(in_channels=16, out_channels=16, mid_channels=16)
    model_cfg.fuser.update(in_channels=[64, 16], out_channels=32)
    model_cfg.bev_backbone.update(in_channels=32)
    torch.manual_seed(0)
    first, last = overfit(
        build_model(model_cfg), tiny_batch(cfg.train_dataloader.dataset, tiny_root), steps=20
    )
    assert sum(last.values()) < 0.6 * sum(first.values()), (first, last)
    assert last['loss_heatmap'] < first['loss_heatmap'] and last['loss_depth'] < first['loss_depth']


def test_cpu_camera_36e_is_the_cpu_config_on_a_longer_cosine():
    short, long = load('bevdepth_cam_cpu.py'), load('bevdepth_cam_cpu_36e.py')
    for key in ('model', 'train_dataloader', 'val_dataloader', 'optim_wrapper', 'val_evaluator'):
        assert long[key] == short[key], key
    warmup, cosine = long.param_scheduler
    assert long.train_cfg.max_epochs == 36 == cosine.end
    assert warmup.end == cosine.begin == 1 and cosine.T_max == cosine.end - cosine.begin
    assert cosine.eta_min == short.param_scheduler[1].eta_min
    assert long.train_cfg.max_epochs % long.train_cfg.val_interval == 0  # validates at the end
