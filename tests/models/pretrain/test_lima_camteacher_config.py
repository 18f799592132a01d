"""configs/lima_pretrain_camteacher_cpu.py: the frozen 2D teacher is the image trunk of a
camera detector checkpoint (configs/bevdepth_cam_cpu.py), loaded by prefix."""
import copy
import os

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.registry import MODELS

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'configs')


def build(cfg):
    perception_kd.register_all_modules()
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


def test_camera_detector_trunk_is_the_frozen_teacher(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    detector = build(Config.fromfile(os.path.join(CONFIGS, 'bevdepth_cam_cpu.py')).model)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=detector.state_dict(), meta={}), ckpt)
    cfg = Config.fromfile(os.path.join(CONFIGS, 'lima_pretrain_camteacher_cpu.py'))
    enc_cfg = cfg.model.image_encoder
    assert enc_cfg.checkpoint == 'work_dirs/bevdepth_cam_cpu'
    enc_cfg.checkpoint = str(tmp_path)          # a work dir: its latest checkpoint
    encoder = build(enc_cfg)
    assert (encoder.out_channels, encoder.stride) == (64, 16)
    theirs = detector.state_dict()
    for key, value in encoder.encoder_state_dict().items():
        assert torch.equal(value, theirs[f'camera_encoder.{key}']), key
    assert not any(p.requires_grad for p in encoder.parameters())
