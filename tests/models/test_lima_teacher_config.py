"""configs/lima_image_teacher_cpu.py: the ImageSegNet it trains, the FrozenImageEncoder
snippet that loads that run's trunk, and (after the semantic2d branch is merged) its
pipeline feeding a training step on the tiny synthetic tree."""
import copy
import os

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

from perception_kd.models.pretrain import FrozenImageEncoder, ImageSegNet
from perception_kd.registry import DATASETS, MODELS

CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                      'lima_image_teacher_cpu.py')


def build(cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


def test_config_builds_and_teacher_loads_its_checkpoint(tmp_path):
    torch.set_num_threads(1)
    cfg = Config.fromfile(CONFIG)
    net = build(cfg.model)
    assert isinstance(net, ImageSegNet) and net.classifier.out_channels == 16
    assert cfg.train_cfg.max_epochs == cfg.param_scheduler[-1].end
    assert cfg.image_teacher.checkpoint == 'work_dirs/lima_image_teacher_cpu'
    work_dir = tmp_path / 'lima_image_teacher_cpu'
    work_dir.mkdir()
    torch.save(dict(meta=dict(epoch=4), state_dict=net.state_dict()), work_dir / 'epoch_4.pth')
    teacher = build(dict(cfg.image_teacher, checkpoint=str(work_dir), probe_size=(64, 64)))
    assert isinstance(teacher, FrozenImageEncoder)
    assert (teacher.stride, teacher.out_channels) == (4, 64)
    net.eval()
    imgs = torch.rand(1, 3, 64, 96) * 255
    expected = net.extract_feat((imgs - teacher.mean) / teacher.std)
    assert torch.allclose(teacher(imgs), expected, atol=1e-5)


def test_config_pipeline_trains_on_the_tiny_tree(tiny_root, tiny_infos):
    torch.set_num_threads(1)
    cfg = Config.fromfile(CONFIG)
    np.random.seed(0)
    batches = {}
    for name, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        dataset_cfg = copy.deepcopy(loader.dataset)
        dataset_cfg.data_root = tiny_root
        for step in dataset_cfg.pipeline:
            if step['type'] == 'ImageAug3D':  # the tiny tree's images are 320x180
                step.update(final_size=(64, 96), resize_lim=(0.35, 0.4))
        with DefaultScope.overwrite_default_scope('perception_kd'):
            dataset = DATASETS.build(dataset_cfg)
        batches[name] = pseudo_collate([dataset[0], dataset[1]])
    for batch in batches.values():
        sems = batch['inputs']['img_semantics']
        assert [tuple(s.shape) for s in sems] == [(6, 64, 96)] * 2
        assert int(max(s.max() for s in sems)) < 32 and any(bool((s > 0).any()) for s in sems)
    torch.manual_seed(0)
    net = build(cfg.model)
    wrapper = OptimWrapper(torch.optim.AdamW(net.parameters(), lr=2e-3))
    losses = [float(net.train_step(batches['train'], wrapper)['loss_seg'].detach())
              for _ in range(3)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    outputs = net.val_step(batches['val'])
    assert outputs[0].pred_sem_seg_2d.shape == (6, 64, 96)
