"""BEVDetector with the CenterPoint LiDAR configs: modes, shapes, over-fitting one batch."""
import copy
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.models import BEVFeatures
from perception_kd.registry import DATASETS, MODELS
from perception_kd.structures import BEVGrid, Det3DDataSample

perception_kd.register_all_modules()

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')


def load_config(name: str) -> Config:
    return Config.fromfile(os.path.join(CONFIGS, name))


def narrow(model_cfg):
    """The CPU model with narrower layers (same grid, same structure) for fast tests."""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.lidar_encoder.sparse_encoder.update(base_channels=4, stage_channels=(4, 8, 8, 8),
                                                  out_channels=8)          # bev_low: 8 * 2
    model_cfg.bev_backbone.update(in_channels=16, out_channels=(8, 16))
    model_cfg.bev_neck.update(in_channels=(8, 16), out_channels=(8, 8))  # bev_high: 16
    model_cfg.head.update(in_channels=16, share_channels=8, head_channels=8)
    return model_cfg


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(model_cfg)


def batch_from(cfg, root, split='train', size=2, sweeps=None):
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    dataset_cfg = copy.deepcopy(loader.dataset)
    dataset_cfg.data_root = root
    for step in dataset_cfg.pipeline:
        if step['type'] == 'LoadPointsFromMultiSweeps' and sweeps is not None:
            step['sweeps_num'] = sweeps
    dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(size)])


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, spinning OpenMP threads of several
    processes make these tests many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def cpu_cfg():
    return load_config('centerpoint_lidar_cpu.py')


def test_configs_share_one_grid_per_model():
    for name, grid, sweeps in [('centerpoint_lidar.py', (180, 180, 0.6), 9),
                               ('centerpoint_lidar_cpu.py', (128, 128, 0.8), 2)]:
        cfg = load_config(name)
        model = cfg.model
        pcr = model.data_preprocessor.voxelize_cfg.point_cloud_range
        assert pcr == cfg.point_cloud_range == model.lidar_encoder.sparse_encoder.point_cloud_range
        assert model.head.point_cloud_range == pcr
        assert model.head.bev_cell == model.lidar_encoder.bev_cell == grid[2]
        assert BEVGrid.from_range(pcr, grid[2]).shape == grid[:2]
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            steps = {s['type']: s for s in loader.dataset.pipeline}
            assert steps['PointsRangeFilter']['point_cloud_range'] == pcr
            assert steps['LoadPointsFromMultiSweeps']['sweeps_num'] == sweeps
        assert cfg.default_scope == 'perception_kd'


def test_real_config_builds_on_the_180_grid():
    model = build(load_config('centerpoint_lidar.py').model)
    encoder = model.lidar_encoder
    assert encoder.sparse_encoder.sparse_shape == (41, 1440, 1440)
    assert encoder.bev_grid.shape == (180, 180) and encoder.out_channels == 256
    assert model.head.grid == encoder.bev_grid
    assert [len(t) for t in model.head.task_labels] == [1, 2, 2, 1, 2, 2]
    points = torch.rand(2000, 5) * torch.tensor([100.0, 100.0, 6.0, 1.0, 0.0]) - \
        torch.tensor([50.0, 50.0, 4.0, 0.0, 0.0])
    data = model.data_preprocessor(dict(inputs=dict(points=[points]),
                                        data_samples=[Det3DDataSample()]))
    with torch.no_grad():
        bev_low = encoder(data['inputs'], data['data_samples'])
    assert bev_low.shape == (1, 256, 180, 180)


def test_modes_tensor_loss_predict(cpu_cfg, tiny_root, tiny_infos):
    torch.manual_seed(0)
    np.random.seed(0)
    model = build(narrow(cpu_cfg.model))
    batch = batch_from(cpu_cfg, tiny_root, 'train')
    data = model.data_preprocessor(batch, True)
    feats = model(**data, mode='tensor')
    assert isinstance(feats, BEVFeatures)
    assert feats.bev_low.shape == (2, 16, 128, 128)
    assert feats.bev_high.shape == (2, 16, 128, 128)
    assert len(feats.responses) == 6
    for resp, n_cls in zip(feats.responses, [1, 2, 2, 1, 2, 2]):
        shapes = {k: tuple(v.shape) for k, v in resp.items()}
        assert shapes == dict(heatmap=(2, n_cls, 128, 128), reg=(2, 2, 128, 128),
                              height=(2, 1, 128, 128), dim=(2, 3, 128, 128),
                              rot=(2, 2, 128, 128), vel=(2, 2, 128, 128))
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_heatmap', 'loss_bbox'}
    assert all(torch.isfinite(v) for v in losses.values())

    model.eval()
    val = model.data_preprocessor(batch_from(cpu_cfg, tiny_root, 'val'), False)
    with torch.no_grad():
        out = model(**val, mode='predict')
    assert len(out) == 2
    for sample in out:
        pred = sample.pred_instances_3d
        assert pred.bboxes_3d.shape[1] == 9 and len(pred.scores_3d) == len(pred.labels_3d)
        assert len(pred) <= 500


def test_overfits_one_batch(cpu_cfg, tiny_root, tiny_infos):
    torch.manual_seed(0)
    np.random.seed(0)
    model = build(narrow(cpu_cfg.model))
    model.train()
    batch = batch_from(cpu_cfg, tiny_root, 'train', sweeps=0)  # keyframes only: faster
    assert all(len(s.gt_instances_3d) > 0 for s in batch['data_samples'])
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    history = []
    for _ in range(30):
        log = model.train_step(batch, optim)
        history.append(float(log['loss'].detach()))
    assert np.isfinite(history).all()
    first, last = np.mean(history[:3]), np.mean(history[-3:])
    assert last < 0.5 * first, history


def test_trains_under_cpu_bfloat16_autocast(cpu_cfg, tiny_root, tiny_infos):
    """--amp on CPU: the sparse encoder (no bfloat16 kernels in spconv) runs in float32
    inside autocast, the rest in bfloat16; the loss is finite and gradients flow."""
    model = build(narrow(cpu_cfg.model))
    data = model.data_preprocessor(batch_from(cpu_cfg, tiny_root), training=True)
    model.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model(data['inputs'], data['data_samples'], mode='tensor')
        losses = model.loss(data['inputs'], data['data_samples'], feats=feats)
    assert feats.bev_low.dtype == torch.float32            # the sparse encoder's own output
    assert feats.bev_high.dtype == torch.bfloat16          # dense convs under autocast
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grad = model.lidar_encoder.sparse_encoder.conv_input[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_motion_config_trains_and_feeds_the_motion_map_to_the_head(tiny_root, tiny_infos):
    """configs/centerpoint_lidar_cpu_motion.py (narrowed): scaled features, the sweep
    occupancy branch added to the BEV and handed to the velocity and heading branches;
    one training step and a prediction run; the side path carries gradient."""
    cfg = load_config('centerpoint_lidar_cpu_motion.py')
    model_cfg = narrow(cfg.model)
    model_cfg.head.velocity_side_channels = 16            # the narrowed BEV channels
    torch.manual_seed(0)
    model = build(model_cfg)
    assert tuple(model.lidar_encoder.voxel_encoder.feature_scale.tolist()) == \
        pytest.approx((51.2, 51.2, 5.0, 25.5, 0.1))
    task = model.head.task_heads[0].branches
    assert task['vel'][0].in_channels == task['rot'][0].in_channels == 8 + 16
    assert task['dim'][0].in_channels == 8
    assert task['vel'][0].dilation == (3, 3)
    model.train()
    data = model.data_preprocessor(batch_from(cfg, tiny_root, 'train'), True)
    losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    motion_net = model.lidar_encoder.motion_encoder.net
    assert motion_net[0].weight.grad.abs().sum() > 0
    model.eval()
    val = model.data_preprocessor(batch_from(cfg, tiny_root, 'val'), False)
    with torch.no_grad():
        out = model(**val, mode='predict')
    assert len(out) == 2 and out[0].pred_instances_3d.bboxes_3d.shape[1] == 9
