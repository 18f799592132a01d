"""The lidarseg configs load and build; the CPU config trains on the tiny tree (its loss
falls over a few iterations) and predicts one label per keyframe point."""
import copy
import os

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.registry import DATASETS, MODELS

perception_kd.register_all_modules()

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')


def load(name):
    return Config.fromfile(os.path.join(CONFIGS, name))


def build(cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(cfg)


def test_configs_load_and_build():
    cpu, big = load('minkunet_seg_cpu.py'), load('minkunet34_seg.py')
    assert build(cpu.model).backbone.out_channels == 32
    model = build(big.model)
    assert model.backbone.out_channels == 96 and model.head.num_classes == 16
    assert big.model.data_preprocessor.voxel_size == [0.1, 0.1, 0.1]
    for cfg in (cpu, big):
        assert cfg.train_dataloader.dataset.filter_empty_gt is False
        types = [step['type'] for step in cfg.test_dataloader.dataset.pipeline]
        assert 'LoadLidarsegLabels' in types and 'PointsRangeFilter' not in types
        assert cfg.model.data_preprocessor.point_cloud_range == \
            cfg.train_dataloader.dataset.pipeline[3]['point_cloud_range']


def test_cpu_config_trains_and_predicts(tiny_root, tiny_infos):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load('minkunet_seg_cpu.py')
    datasets = {}
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        dataset_cfg = copy.deepcopy(loader.dataset)
        dataset_cfg.data_root = tiny_root
        datasets[split] = DATASETS.build(dataset_cfg)
    model = build(cfg.model)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = pseudo_collate([datasets['train'][0], datasets['train'][1]])
    data = model.data_preprocessor(batch, training=True)
    losses = []
    for _ in range(6):
        loss = model(**data, mode='loss')['loss_sem_seg']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    items = [datasets['val'][0]]
    with torch.no_grad():
        out = model.test_step(pseudo_collate(items))
    pred = out[0].pred_pts_seg.pts_semantic_mask
    num_points = os.path.getsize(out[0].metainfo['lidarseg_path'])   # one uint8 per point
    assert len(pred) == len(items[0]['inputs']['points']) == num_points
    assert pred.dtype == torch.int64 and 0 <= int(pred.min()) and int(pred.max()) < 16
