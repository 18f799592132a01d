"""MinkUNet: one feature per input voxel in input order, on CPU (Native spconv)."""
import pytest
import torch

from perception_kd.models.lidar import MinkUNet

SMALL = dict(in_channels=4, base_channels=8, encoder_channels=(8, 16, 16, 16),
             encoder_blocks=(1, 1, 1, 1), decoder_channels=(16, 16, 8, 8),
             decoder_blocks=(1, 1, 1, 1))


def voxels(num=600, seed=0):
    gen = torch.Generator().manual_seed(seed)
    coors = torch.cat([torch.randint(0, 2, (num, 1), generator=gen),
                       torch.randint(0, 20, (num, 3), generator=gen)], 1)
    coors = torch.unique(coors, dim=0)
    coors = coors[torch.randperm(len(coors), generator=gen)].int()
    return torch.rand(len(coors), 4, generator=gen), coors


def test_per_voxel_output_in_input_order():
    torch.manual_seed(0)
    net = MinkUNet(**SMALL).eval()
    feats, coors = voxels()
    out = net(feats, coors, 2)
    assert out.shape == (len(coors), net.out_channels) and net.out_channels == 8
    perm = torch.randperm(len(coors))
    with torch.no_grad():
        assert torch.allclose(net(feats[perm], coors[perm], 2), out[perm], atol=1e-5)
    # a voxel's feature depends on its neighbours only through coordinates, not on order
    assert net.grid_shape(coors) == [32, 32, 32]


def test_backward_and_errors():
    net = MinkUNet(**SMALL)
    feats, coors = voxels(200, seed=1)
    net(feats, coors, 2, sparse_shape=(20, 20, 20)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net(feats[:0], coors[:0], 1).shape == (0, 8)
    with pytest.raises(ValueError, match='in_channels'):
        net(torch.rand(3, 5), coors[:3], 1)
    with pytest.raises(ValueError, match='one entry per stage'):
        MinkUNet(4, encoder_channels=(8, 16), encoder_blocks=(1,), decoder_channels=(8, 8),
                 decoder_blocks=(1, 1))


def test_minkunet34_size():
    net = MinkUNet(4)   # defaults: MinkUNet-34 (base 32, blocks (2, 3, 4, 6), decoder 96)
    assert net.out_channels == 96
    assert 37e6 < sum(p.numel() for p in net.parameters()) < 39e6
