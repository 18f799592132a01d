"""CUDA paths: ops, detectors, the Distiller and tools/train.py on a GPU against CPU results.

Skipped where torch sees no GPU (CI, laptops). On a GPU machine:
    python -m pytest -q tests/test_cuda.py
Each check runs the same input on CPU (spconv's native algorithm) and on CUDA (spconv's
default algorithm, set by the detector's forward hook) and compares.
"""
import copy
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.ops import (
    circle_nms,
    draw_gaussian,
    nms_bev,
    points_in_boxes_idx,
    spconv_layers,
    voxelize,
)
from perception_kd.registry import DATASETS, MODELS

perception_kd.register_all_modules()

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
CUDA = torch.device('cuda')


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, name))


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(model_cfg))


def batch_of(cfg: Config, root: str, size: int = 2, seed: int = 0) -> dict:
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.data_root = root
    for step in dataset_cfg.pipeline:       # the tiny tree's 320x180 images
        if step['type'] == 'ImageAug3D':
            scale = step['final_size'][1] / 320
            step.update(resize_lim=(scale, scale), rot_lim=(0.0, 0.0), rand_flip=False)
    np.random.seed(seed)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(size)])


def random_points(n=30000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    xyz = (torch.rand(n, 3, generator=gen) - 0.5) * torch.tensor([110.0, 110.0, 9.0])
    return torch.cat([xyz, torch.rand(n, 2, generator=gen)], 1)


@pytest.fixture(autouse=True)
def exact_float32():
    """CPU-comparable float32 on the GPU: no TF32 in cuDNN convolutions or matmuls."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# ------------------------------------------------------------------------------ ops
def test_voxelize_cuda_equals_cpu():
    points = random_points()
    kwargs = dict(
        voxel_size=[0.2, 0.2, 0.2],
        point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
        max_points_per_voxel=10,
        max_voxels=20000,
    )
    cpu, gpu = voxelize(points, **kwargs), voxelize(points.to(CUDA), **kwargs)
    for name in ('voxels', 'coords', 'num_points'):
        a, b = getattr(cpu, name), getattr(gpu, name)
        assert b.device.type == 'cuda'
        torch.testing.assert_close(b.cpu(), a, msg=name)


def test_points_in_boxes_nms_and_gaussian_cuda_equal_cpu():
    points = random_points(5000)[:, :3]
    gen = torch.Generator().manual_seed(1)
    boxes = torch.cat([(torch.rand(40, 3, generator=gen) - 0.5) * torch.tensor([100.0, 100.0, 4.0]),
                       torch.rand(40, 3, generator=gen) * 6 + 1,
                       torch.rand(40, 1, generator=gen) * 6.3], 1)
    torch.testing.assert_close(points_in_boxes_idx(points.to(CUDA), boxes.to(CUDA)).cpu(),
                               points_in_boxes_idx(points, boxes))
    overlapping = boxes.clone()
    overlapping[20:, :2] = overlapping[:20, :2] + 0.3       # pairs that NMS must merge
    scores = torch.rand(40, generator=gen)
    keep_cpu = nms_bev(overlapping, scores, 0.2)
    keep_gpu = nms_bev(overlapping.to(CUDA), scores.to(CUDA), 0.2)
    torch.testing.assert_close(keep_gpu.cpu(), keep_cpu)
    assert len(keep_cpu) < 40
    centres = overlapping[:, :2]
    torch.testing.assert_close(circle_nms(centres.to(CUDA), scores.to(CUDA), 4.0).cpu(),
                               circle_nms(centres, scores, 4.0))
    heat_cpu, heat_gpu = torch.zeros(64, 64), torch.zeros(64, 64, device=CUDA)
    for centre, radius in [((10, 20), 3), ((11, 21), 2), ((60, 5), 4)]:
        draw_gaussian(heat_cpu, centre, radius)
        draw_gaussian(heat_gpu, centre, radius)
    torch.testing.assert_close(heat_gpu.cpu(), heat_cpu)


# ------------------------------------------------------------------------- detectors
def _compare_detector(cfg_name, tiny_root, tiny_infos, sparse: bool):
    cfg = load(cfg_name)
    torch.manual_seed(0)
    model = build(cfg.model)
    model.eval()
    batch = batch_of(cfg, tiny_root)
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), training=False)
        cpu = model.extract_feats(data['inputs'], data['data_samples'])
        model.to(CUDA)
        data = model.data_preprocessor(copy.deepcopy(batch), training=False)
        gpu = model.extract_feats(data['inputs'], data['data_samples'])
    if sparse:
        from spconv.core import ConvAlgo
        layers = list(spconv_layers(model))
        assert layers and all(layer.algo != ConvAlgo.Native for layer in layers), \
            'the CUDA forward must use spconv default algorithm'
    for level in ('bev_low', 'bev_high'):
        a, b = getattr(cpu, level), getattr(gpu, level)
        assert b.device.type == 'cuda'
        scale = a.abs().max().item() + 1e-6
        assert (b.cpu() - a).abs().max().item() / scale < 2e-3, level
    # a training step on CUDA: finite losses, every trainable parameter gets a gradient
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total), losses
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]
    # predictions come back as boxes on the right device for the metric
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), training=False)
        preds = model(data['inputs'], data['data_samples'], mode='predict')
    assert len(preds) == 2 and 'bboxes_3d' in preds[0].pred_instances_3d


def test_lidar_detector_cuda_matches_cpu(tiny_root, tiny_infos):
    _compare_detector('centerpoint_lidar_cpu.py', tiny_root, tiny_infos, sparse=True)


def test_camera_detector_cuda_matches_cpu(tiny_root, tiny_infos):
    _compare_detector('bevdepth_cam_cpu.py', tiny_root, tiny_infos, sparse=False)


def test_fusion_detector_cuda_matches_cpu(tiny_root, tiny_infos):
    _compare_detector('bevfusion_cpu.py', tiny_root, tiny_infos, sparse=True)


# ------------------------------------------------------------------------- distiller
def test_distiller_step_on_cuda(tiny_root, tiny_infos, tmp_path):
    cfg = load('unidistill_lidar2cam_cpu.py')
    torch.manual_seed(0)
    teacher = build(load('centerpoint_lidar_cpu.py').model)
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), ckpt)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = ckpt
    model = build(model_cfg).to(CUDA)
    model.train()
    batch = batch_of(cfg, tiny_root)
    losses = model(batch['inputs'], batch['data_samples'], mode='loss')
    for name in ('loss_distill_fea', 'loss_distill_rel', 'loss_distill_resp'):
        assert (
            name in losses and torch.isfinite(losses[name]) and losses[name].device.type == 'cuda'
        )
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())


# ------------------------------------------------------------------ tools/train.py
def test_train_tool_on_cuda_with_amp(tiny_root, tiny_infos, tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tests', 'tools'))   # toy_task (pytest's importlib mode)
    try:
        from toy_task import load_tool
    finally:
        sys.path.pop(0)
    train = load_tool('train')
    work_dir = str(tmp_path / 'run')
    runner = train.main(
        [
            osp.join(CONFIGS, 'centerpoint_lidar_cpu.py'),
            '--work-dir',
            work_dir,
            '--amp',
            '--cfg-options',
            f'train_dataloader.dataset.data_root={tiny_root}/',
            f'val_dataloader.dataset.data_root={tiny_root}/',
            f'test_dataloader.dataset.data_root={tiny_root}/',
            f'val_evaluator.data_root={tiny_root}/',
            f'test_evaluator.data_root={tiny_root}/',
            'train_cfg.max_epochs=2',
            'train_cfg.val_interval=2',
            'param_scheduler.1.end=2',
            'param_scheduler.1.T_max=1',
        ]
    )
    assert next(runner.model.parameters()).device.type == 'cuda'
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    assert type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'


def test_voxelize_points_and_segmentor_cuda_match_cpu(tiny_root, tiny_infos):
    """Unique voxels + point map and the CPU lidarseg model: CUDA (implicit GEMM) vs CPU."""
    from perception_kd.ops import voxelize_points
    torch.manual_seed(0)
    pts = [torch.rand(3000, 4) * 20 - 10, torch.rand(1000, 4) * 20 - 10]
    grid = dict(voxel_size=[0.5, 0.5, 0.5], point_cloud_range=[-8, -8, -4, 8, 8, 4])
    cpu = voxelize_points(pts, **grid)
    gpu = voxelize_points([p.to(CUDA) for p in pts], **grid)
    for a, b in zip(cpu, gpu):
        assert torch.allclose(a, b.cpu(), atol=1e-5)
    cfg = load('minkunet_seg_cpu.py')
    dataset_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    dataset_cfg.data_root = tiny_root
    dataset = DATASETS.build(dataset_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = build(cfg.model).eval()
    with torch.no_grad():
        ref = model(**model.data_preprocessor(copy.deepcopy(batch)), mode='tensor')
        model.to(CUDA)
        out = model(**model.data_preprocessor(copy.deepcopy(batch)), mode='tensor')
    assert torch.allclose(out.cpu(), ref, atol=1e-3, rtol=1e-3)
