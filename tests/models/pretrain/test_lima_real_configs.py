"""The real-nuScenes LiMA configs load and build (never trained here): pretraining with the
MinkUNet-34 of configs/minkunet34_seg.py, the two lidarseg protocols and detection
fine-tuning, whose sparse encoder takes 18 conv blocks of a MinkUNet-34."""
import copy
import importlib.util
import os

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.models.lidar import transfer_sparse_weights
from perception_kd.registry import MODELS

perception_kd.register_all_modules()

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), 'configs')


def load(name):
    return Config.fromfile(os.path.join(CONFIGS, name))


def build(cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


def test_pretrain_config_builds_with_the_segmentation_backbone():
    cfg = load('lima_pretrain.py')
    seg = load('minkunet34_seg.py')
    model_cfg = copy.deepcopy(cfg.model)
    teacher = model_cfg.image_encoder
    assert teacher.backbone.type == 'TimmBackbone'
    assert 'dinov2' in teacher.backbone.model_name and teacher.backbone.checkpoint
    if importlib.util.find_spec('timm') is None:      # optional package: the other teacher
        model_cfg.image_encoder = copy.deepcopy(cfg.resnet_teacher)
        model_cfg.image_encoder.backbone.pretrained = None
    else:
        model_cfg.image_encoder.backbone.checkpoint = None
    model_cfg.image_encoder.checkpoint = None
    model = build(model_cfg)
    for key in ('in_channels', 'base_channels', 'encoder_channels', 'encoder_blocks',
                'decoder_channels', 'decoder_blocks'):
        assert cfg.model.backbone_3d[key] == seg.model.backbone[key], key
    assert cfg.model.data_preprocessor.voxel_size == seg.model.data_preprocessor.voxel_size
    assert cfg.point_cloud_range == seg.model.data_preprocessor.point_cloud_range
    assert model.backbone_3d.out_channels == 96
    assert all(not p.requires_grad for p in model.image_encoder.parameters())
    steps = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    assert steps['LoadSuperpixels']['method'] == 'slic'
    assert tuple(steps['ImageAug3D']['final_size']) == (224, 448)
    assert cfg.train_dataloader.sampler.batch_size == cfg.train_dataloader.batch_size == 4
    # the downstream segmentor takes the whole pretrained backbone by its prefix
    state = {k: v for k, v in model.state_dict().items() if k.startswith('backbone_3d.')}
    down = load('lima_lidarseg_finetune.py')
    down.model.init_backbone.checkpoint = None
    segmentor = build(down.model)
    segmentor.backbone.load_state_dict({k[len('backbone_3d.'):]: v for k, v in state.items()})


def test_lidarseg_configs_build():
    linear, finetune = load('lima_lidarseg_linear.py'), load('lima_lidarseg_finetune.py')
    for cfg in (linear, finetune):
        assert cfg.model.init_backbone.prefix == 'backbone_3d.'
        cfg.model.init_backbone.checkpoint = None
    model = build(linear.model)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert finetune.train_dataloader.dataset.scan_fraction == 0.01
    assert finetune.train_dataloader.dataset.subset_seed == 0
    assert build(finetune.model).backbone.out_channels == 96


def test_det_config_builds_and_takes_most_of_a_minkunet34():
    cfg = load('lima_det_finetune.py')
    assert cfg.model.lidar_encoder.init_sparse_encoder.prefix == 'backbone_3d.'
    cfg.model.lidar_encoder.init_sparse_encoder.checkpoint = None
    model = build(cfg.model)
    encoder = model.lidar_encoder
    assert encoder.sparse_encoder.sparse_shape == (81, 1024, 1024)
    assert encoder.bev_grid.shape == (128, 128) and encoder.out_channels == 512
    assert model.head.grid == encoder.bev_grid
    steps = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    assert 'LoadPointsFromMultiSweeps' not in steps and steps['LoadPointsFromFile']['use_dim'] == 4
    assert steps['PointsRangeFilter']['point_cloud_range'] == cfg.point_cloud_range
    assert cfg.train_dataloader.dataset.scan_fraction == 0.05
    assert cfg.val_evaluator.version == 'v1.0-trainval'

    torch.manual_seed(0)
    mink = build(load('lima_pretrain.py').model.backbone_3d)
    report = transfer_sparse_weights(encoder.sparse_encoder,
                                     {f'backbone_3d.{k}': v for k, v in mink.state_dict().items()},
                                     log=False)
    # refused: the 3 down-sampling convs (2x2x2 vs 3x3x3) and 2 widening conv1s
    assert report.num_transferred == 18 and len(report.mismatched) == 5
    assert report.fraction_params > 0.75
