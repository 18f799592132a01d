"""CameraBEVEncoder: contract shapes on a real pipeline batch, errors, depth over-fitting."""
import importlib.util
import os

import pytest
import torch

from perception_kd.models.camera import ImageFPN
from perception_kd.registry import MODELS

_spec = importlib.util.spec_from_file_location(
    'camera_geometry_tests', os.path.join(os.path.dirname(__file__), 'test_camera_geometry.py'))
geo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(geo)

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 1, 3, 1, 1)


def tiny_encoder(**view_transform):
    vt = dict(type='DepthLSSTransform', in_channels=16, out_channels=8, mid_channels=16,
              point_cloud_range=geo.PCR, bev_cell=0.8, dbound=(1.0, 60.0, 1.0),
              z_range=(-5.0, 3.0))
    vt.update(view_transform)
    return MODELS.build(dict(
        type='CameraBEVEncoder',
        backbone=dict(type='ResNet', depth=18, base_channels=8, out_indices=(2, 3)),
        neck=dict(type='ImageFPN', in_channels=[32, 64], out_channels=16),
        view_transform=vt, bev_convs=1, bev_channels=12))


@pytest.fixture(scope='module')
def batch(tiny_root, tiny_infos):
    data = geo.multimodal_batch(tiny_root, train=True, final_size=(64, 176))
    imgs = (torch.stack(data['inputs']['imgs']).float() - MEAN) / STD
    return dict(imgs=imgs, points=data['inputs']['points']), data['data_samples']


def test_image_fpn_fuses_strides():
    neck = ImageFPN(in_channels=[32, 64], out_channels=16)
    out = neck([torch.randn(3, 32, 8, 22), torch.randn(3, 64, 4, 11)])
    assert out.shape == (3, 16, 8, 22)


def test_encoder_contract(batch):
    inputs, samples = batch
    encoder = tiny_encoder()
    assert encoder.out_channels == 12 and encoder.grid.shape == (128, 128)
    bev, aux = encoder(inputs, samples)
    assert bev.shape == (2, 12, 128, 128)
    depth = aux['depth']
    assert depth.shape == (12, 59, 4, 11)  # B*Ncam, D = (60 - 1) / 1, 64x176 / 16
    torch.testing.assert_close(depth.sum(1), torch.ones(12, 4, 11))
    losses = encoder.loss(aux, inputs, samples)
    assert set(losses) == {'loss_depth'} and torch.isfinite(losses['loss_depth'])
    (losses['loss_depth'] + bev.mean()).backward()
    assert encoder.backbone.conv1.weight.grad.abs().sum() > 0
    assert not tiny_encoder(loss_depth_weight=0.0).loss(aux, dict(imgs=inputs['imgs']), samples)
    with pytest.raises(KeyError, match=r"inputs\['points'\]"):
        encoder.loss(aux, dict(imgs=inputs['imgs']), samples)


def test_encoder_errors(batch):
    inputs, samples = batch
    encoder = tiny_encoder()
    with pytest.raises(TypeError, match='normalised float'):
        encoder(dict(imgs=inputs['imgs'].to(torch.uint8)), samples)
    with pytest.raises(KeyError, match=r"inputs\['imgs'\]"):
        encoder(dict(points=inputs['points']), samples)
    with pytest.raises(ValueError, match='2 image sets for 1 data samples'):
        encoder(inputs, samples[:1])


def test_depth_loss_decreases_when_overfitting(batch):
    inputs, samples = batch
    torch.manual_seed(0)
    encoder = tiny_encoder()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
    history = []
    for _ in range(25):
        bev, aux = encoder(inputs, samples)
        loss = encoder.loss(aux, inputs, samples)['loss_depth']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert sum(history[-3:]) / 3 < 0.7 * history[0]
