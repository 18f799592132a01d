"""transfer_sparse_weights: a pretrained MinkUNet's conv blocks copied into the detector's
SparseEncoder where shapes allow (exact values, the rest untouched, all reported), and the
detection fine-tuning config (configs/lima_det_finetune_cpu.py) builds and trains a step."""
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
from perception_kd.models.lidar import MinkUNet, SparseEncoder, transfer_sparse_weights
from perception_kd.registry import DATASETS, MODELS

perception_kd.register_all_modules()

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')
PCR = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0]


def build(cfg):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg))


def randomised(module):
    """Random values in every tensor (BN statistics and step counts included)."""
    with torch.no_grad():
        for value in module.state_dict().values():
            value.copy_(torch.randint(1, 50, value.shape) if not value.is_floating_point()
                        else torch.randn(value.shape))
    return module


@pytest.fixture
def pair():
    torch.manual_seed(0)
    mink = randomised(MinkUNet(in_channels=4, base_channels=16, encoder_channels=(16, 32, 64, 128),
                               encoder_blocks=(1, 1, 1, 1), decoder_channels=(128, 64, 32, 32),
                               decoder_blocks=(1, 1, 1, 1)))
    enc = SparseEncoder(in_channels=4, voxel_size=[0.2, 0.2, 0.2], point_cloud_range=PCR,
                        base_channels=16, stage_channels=(16, 16, 32, 64),
                        stage_blocks=(1, 1, 1, 1), stage_strides=(1, 2, 2, 1),
                        stage_z_paddings=(1, 1, 0, 0), out_channels=8, z_pad=5)
    return mink, enc


EXPECTED = [('conv_input.0', 'conv_input'), ('conv_input.1', 'stages.0.0.conv1'),
            ('encoder.0.1.conv1', 'stages.1.1.conv1'), ('encoder.0.1.conv2', 'stages.1.1.conv2'),
            ('encoder.1.1.conv2', 'stages.2.1.conv2'), ('encoder.2.1.conv1', 'stages.3.0'),
            ('encoder.2.1.conv2', 'stages.3.1.conv1')]


def test_matching_blocks_copied_exactly_others_untouched(pair):
    mink, enc = pair
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    source = {f'backbone_3d.{k}': v for k, v in mink.state_dict().items()}
    source['head_3d.weight'] = torch.zeros(3)              # other keys of the checkpoint
    report = transfer_sparse_weights(enc, source, prefix='backbone_3d.', log=False)

    assert sorted(report.transferred) == sorted(EXPECTED)
    refused = {(s, t) for s, t, _, _ in report.mismatched}
    assert refused == {('encoder.0.0', 'stages.1.0'), ('encoder.1.0', 'stages.2.0'),
                       ('encoder.1.1.conv1', 'stages.2.1.conv1')}
    assert all(s[1:4] == (2, 2, 2) and t[1:4] == (3, 3, 3) for s, t in
               [(s, t) for src, _, s, t in report.mismatched if src.endswith('.0')])
    src_state, after = mink.state_dict(), enc.state_dict()
    copied = set()
    for src, tgt in EXPECTED:
        keys = [k for k in after if k.startswith(tgt + '.')]
        assert len(keys) == 6          # conv weight (no bias) + BN weight, bias, mean, var, count
        for key in keys:
            value = src_state[src + key[len(tgt):]]
            assert torch.equal(after[key], value), key
            copied.add(key)
    for key, value in after.items():
        if key not in copied:
            assert torch.equal(value, before[key]), key
    assert sorted(report.target_untouched) == sorted(set(after) - copied)
    assert any(k.startswith('decoder_') for k in report.source_unused)
    assert any('.shortcut.' in k for k in report.source_unused)
    n_copied = sum(enc.get_parameter(k).numel() for k in copied if k.endswith(('weight', 'bias'))
                   and k in dict(enc.named_parameters()))
    assert report.copied_params == n_copied
    assert report.target_params == sum(p.numel() for p in enc.parameters())
    assert 0.3 < report.fraction_params < 1.0
    text = report.format()
    assert 'copied      conv_input.0 -> conv_input' in text and 'conv_out' in text


def test_transferred_stem_computes_what_the_pretrained_stem_did(pair):
    """Same layout (out, kz, ky, kx, in) in both: the copied stem conv gives the same
    output on the same voxels (BatchNorm left out: its eps differs between the nets)."""
    import spconv.pytorch as spconv

    from perception_kd.ops import set_spconv_algo
    mink, enc = pair
    transfer_sparse_weights(enc, {f'b.{k}': v for k, v in mink.state_dict().items()},
                            prefix='b.', log=False)
    set_spconv_algo(mink, torch.device('cpu'))
    set_spconv_algo(enc, torch.device('cpu'))
    coors = torch.unique(torch.randint(0, 16, (300, 3)), dim=0)
    coors = torch.cat([torch.zeros(len(coors), 1, dtype=torch.long), coors], 1).int()
    feats = torch.randn(len(coors), 4)
    x = spconv.SparseConvTensor(feats, coors, [16, 16, 16], 1)
    a = mink.conv_input[0][0](x).features
    b = enc.conv_input[0](x).features
    assert torch.allclose(a, b, atol=1e-5)


def test_errors_name_the_problem(pair, tmp_path):
    mink, enc = pair
    state = {f'backbone_3d.{k}': v for k, v in mink.state_dict().items()}
    with pytest.raises(KeyError, match="prefix 'backbone.'"):
        transfer_sparse_weights(enc, state, prefix='backbone.', log=False)
    with pytest.raises(KeyError, match='stages.9'):
        transfer_sparse_weights(enc, state, mapping={'conv_input.0': 'stages.9'}, log=False)
    with pytest.raises(FileNotFoundError, match='holds no checkpoint'):
        transfer_sparse_weights(enc, str(tmp_path), log=False)
    # an explicit mapping: only what it names
    report = transfer_sparse_weights(enc, state, mapping={'conv_input.0': 'conv_input'},
                                     log=False)
    assert report.transferred == [('conv_input.0', 'conv_input')]


@pytest.fixture(scope='module')
def det_cfg():
    return Config.fromfile(os.path.join(CONFIGS, 'lima_det_finetune_cpu.py'))


def test_config_builds_from_a_lima_checkpoint_and_trains_a_step(det_cfg, tiny_root, tiny_infos,
                                                                tmp_path):
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)
    pre = Config.fromfile(os.path.join(CONFIGS, 'lima_pretrain_cpu.py'))
    mink = randomised(build(pre.model.backbone_3d))
    torch.save(dict(state_dict={f'backbone_3d.{k}': v for k, v in mink.state_dict().items()},
                    meta=dict(epoch=1)), tmp_path / 'epoch_1.pth')
    cfg = copy.deepcopy(det_cfg.model)
    assert cfg.lidar_encoder.init_sparse_encoder.prefix == 'backbone_3d.'
    cfg.lidar_encoder.init_sparse_encoder.checkpoint = str(tmp_path)     # a work dir
    model = build(cfg)
    report = model.lidar_encoder.transfer_report
    assert sorted(report.transferred) == sorted(EXPECTED)
    model.init_weights()                           # the runner's init keeps the transfer
    got = model.lidar_encoder.sparse_encoder.conv_input[0].weight.detach().clone()
    assert torch.equal(got, mink.conv_input[0][0].weight)

    dataset_cfg = copy.deepcopy(det_cfg.train_dataloader.dataset)
    dataset_cfg.data_root = tiny_root
    dataset = DATASETS.build(dataset_cfg)
    full = copy.deepcopy(dataset_cfg)
    full.scan_fraction = 1.0
    assert 0 < len(dataset) < len(DATASETS.build(full))       # a fraction of the scans
    sample = dataset[0]
    assert sample['inputs']['points'].shape[1] == 4           # keyframe x, y, z, intensity
    model.train()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    log = model.train_step(pseudo_collate([sample]), optim)
    assert torch.isfinite(log['loss'])
    assert not torch.equal(model.lidar_encoder.sparse_encoder.conv_input[0].weight, got)

    control = copy.deepcopy(det_cfg.model)
    control.lidar_encoder.init_sparse_encoder.checkpoint = None        # random-init control
    assert build(control).lidar_encoder.transfer_report is None
