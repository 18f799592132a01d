"""SECOND BEV backbone and SECONDFPN neck: stage shapes, back to the input grid."""
import pytest
import torch

from perception_kd.models.bev import SECONDFPN, SECONDBackbone


def test_backbone_and_neck_shapes():
    backbone = SECONDBackbone(in_channels=12, out_channels=(8, 16), layer_nums=(1, 2),
                              layer_strides=(1, 2))
    neck = SECONDFPN(in_channels=(8, 16), out_channels=(6, 10), upsample_strides=(1, 2))
    x = torch.randn(2, 12, 16, 24)
    feats = backbone(x)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 24), (2, 16, 8, 12)]
    out = neck(feats)
    assert out.shape == (2, 16, 16, 24) and neck.out_channels == 16
    out.mean().backward()
    assert backbone.stages[0][0].weight.grad is not None


def test_downsampling_neck_branch():
    backbone = SECONDBackbone(in_channels=4, out_channels=(4, 4), layer_nums=(0, 0),
                              layer_strides=(2, 1))
    neck = SECONDFPN(in_channels=(4, 4), out_channels=(3, 3), upsample_strides=(2, 2))
    assert neck(backbone(torch.randn(1, 4, 8, 8))).shape == (1, 6, 8, 8)
    neck = SECONDFPN(in_channels=(4,), out_channels=(3,), upsample_strides=(0.5,))
    assert neck((torch.randn(1, 4, 8, 8),)).shape == (1, 3, 4, 4)


def test_errors():
    with pytest.raises(ValueError, match='in_channels=12'):
        SECONDBackbone(in_channels=12)(torch.randn(1, 10, 8, 8))
    neck = SECONDFPN(in_channels=(4, 4), out_channels=(2, 2), upsample_strides=(1, 1))
    with pytest.raises(ValueError, match='different grids'):
        neck((torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)))
    with pytest.raises(ValueError, match='one entry per stage'):
        SECONDBackbone(in_channels=4, out_channels=(4, 4), layer_nums=(1,))
