"""configs/lima_pretrain_cpu.py on the tiny synthetic tree: the real pipeline (render
superpixels, pairing), MinkUNet and a (random, frozen) image encoder train end to end."""
import copy
import os
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from perception_kd.registry import MODELS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))  # tiny_data (importlib mode)
from tiny_data import tiny_dataset  # noqa: E402

CONFIG = os.path.join(REPO, 'configs', 'lima_pretrain_cpu.py')


@pytest.fixture(scope='module')
def cfg():
    cfg = Config.fromfile(CONFIG)
    cfg.model.image_encoder.checkpoint = None       # random frozen weights (no teacher run)
    return cfg


@pytest.fixture(scope='module')
def frames(cfg, tiny_root, tiny_infos):
    """The 4 keyframes of the tiny train scene, packed by the config's own pipeline."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.ann_file = tiny_infos['train']
    dataset = tiny_dataset(ds_cfg, tiny_root, final_size=(64, 112))
    return [dataset[i] for i in range(len(dataset))]


def build(model_cfg):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(model_cfg))


def test_pipeline_pairs_points_with_superpixels(frames):
    inputs = frames[0]['inputs']
    pairs, sp, points = inputs['pairing'], inputs['superpixels'], inputs['points']
    assert pairs.shape[1] == 4 and len(pairs) > 0.2 * len(points)
    assert sp.shape == (6, 64, 112) and sp.max() > 20
    assert (sp[pairs[:, 1], pairs[:, 2], pairs[:, 3]] > 0).float().mean() > 0.9
    meta = frames[0]['data_samples'].metainfo
    assert {'lidar2ego', 'ego2global', 'scene_token', 'timestamp'} <= set(meta)


def test_full_lima_trains_and_memory_carries_over(cfg, frames):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.memory.num_frames = 2
    model = build(model_cfg)
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    encoder = {k: v.clone() for k, v in model.image_encoder.state_dict().items()}
    hits, losses = [], []
    for step in range(3):                     # one stream walks the scene: frames 0..2
        batch = model.data_preprocessor(pseudo_collate([frames[step]]), training=True)
        out = model(**batch, mode='loss')
        loss = sum(v for k, v in out.items() if k.startswith('loss_'))
        optim.zero_grad()
        loss.backward()
        optim.step()
        hits.append(float(out['mem_hit']))
        losses.append(out['loss_spatial'].item())
        assert np.isfinite(losses[-1])
        assert out['merged'] >= 0 and out['regions'] > 50
    assert hits[0] == 0 and min(hits[1:]) > 0.2            # the memory sees the same places
    assert len(model.memory.frames(0)) == 2 and out['mem_mb'] > 0   # FIFO: k frames
    for key, value in model.image_encoder.state_dict().items():   # the teacher never moves
        assert torch.equal(value, encoder[key]), key
    # the downstream segmentor loads the pretrained backbone by its prefix
    state = {k: v for k, v in model.state_dict().items() if k.startswith('backbone_3d.')}
    assert state and not any(k.startswith('backbone_3d.') for k in
                             model.image_encoder.state_dict())


def test_base_variant_has_only_the_spatial_loss(cfg, frames):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.cross_view.enabled = False
    model_cfg.memory.num_frames = 0
    model_cfg.cross_sequence.enabled = False
    model = build(model_cfg)
    batch = model.data_preprocessor(pseudo_collate(frames[:2]), training=True)
    out = model(**batch, mode='loss')
    assert [k for k in out if k.startswith('loss_')] == ['loss_spatial']
    assert 'merged' not in out and 'mem_hit' not in out
