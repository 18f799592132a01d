"""spconv algorithm selection: CPU forward/backward through Native, and restoring defaults."""
import pytest
import spconv.pytorch as spconv
import torch
from spconv.core import ConvAlgo
from torch import nn

from perception_kd.ops import (
    register_spconv_algo_hook,
    set_spconv_algo,
    sparse_conv_block,
    spconv_layers,
)


def small_net():
    return spconv.SparseSequential(
        spconv.SubMConv3d(4, 8, 3, padding=1, indice_key='subm1'),
        nn.BatchNorm1d(8), nn.ReLU(),
        spconv.SparseConv3d(8, 16, 3, stride=2, padding=1, indice_key='down1'))


def random_sparse(seed=0, channels=4, size=16, batch=2):
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, size, (300, 3), generator=gen)
    idx = torch.cat([torch.randint(0, batch, (300, 1), generator=gen), idx], 1)
    idx = torch.unique(idx, dim=0).int()
    feats = torch.randn(len(idx), channels, generator=gen, requires_grad=True)
    return spconv.SparseConvTensor(feats, idx, [size] * 3, batch)


def test_default_algo_is_not_native():
    assert all(layer.algo != ConvAlgo.Native for layer in spconv_layers(small_net()))


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only failure mode')
def test_default_algo_fails_on_cpu():
    with pytest.raises(Exception):
        small_net()(random_sparse())


def test_set_algo_makes_cpu_forward_and_backward_work():
    net = small_net()
    assert set_spconv_algo(net) == 2
    assert all(layer.algo == ConvAlgo.Native for layer in spconv_layers(net))
    assert set_spconv_algo(net) == 0
    x = random_sparse()
    out = net(x)
    assert out.spatial_shape == [8, 8, 8] and out.features.shape[1] == 16
    assert out.indices.shape[1] == 4 and set(out.indices[:, 0].tolist()) <= {0, 1}
    out.features.square().sum().backward()
    assert x.features.grad is not None and x.features.grad.abs().sum() > 0
    assert all(layer.weight.grad is not None for layer in spconv_layers(net))


def test_cuda_restores_former_algorithms_and_foreign_models():
    class Foreign(nn.Module):          # e.g. an mmdet3d detector holding a sparse encoder
        def __init__(self):
            super().__init__()
            self.encoder = nn.ModuleDict(dict(conv=small_net()))
            self.head = nn.Linear(16, 2)

    model = Foreign()
    before = [layer.algo for layer in spconv_layers(model)]
    assert len(before) == 2
    assert set_spconv_algo(model, 'cpu') == 2
    assert set_spconv_algo(model, torch.device('cuda')) == 2      # only sets attributes
    assert [layer.algo for layer in spconv_layers(model)] == before
    native = spconv.SubMConv3d(4, 4, 3, algo=ConvAlgo.Native)
    assert set_spconv_algo(native, 'cuda') == 0 and native.algo == ConvAlgo.Native


def test_forward_hook_picks_algorithm():
    net = small_net()
    handle = register_spconv_algo_hook(net)
    assert net(random_sparse()).features.shape[1] == 16
    assert all(layer.algo == ConvAlgo.Native for layer in spconv_layers(net))
    handle.remove()


def test_sparse_conv_block_factory():
    down = sparse_conv_block(4, 8, 3, stride=2, padding=1, conv_type='spconv', indice_key='d1')
    up = sparse_conv_block(8, 4, 3, conv_type='inverse', indice_key='d1', norm=False, act=False)
    subm = sparse_conv_block(4, 4, 3, padding=1, indice_key='s1')
    x = random_sparse(1)
    y = up(down(subm(x)))
    assert y.features.shape == (len(x.indices), 4) and torch.equal(y.indices, x.indices)
    assert up[0].bias is not None and down[0].bias is None
    with pytest.raises(ValueError):
        sparse_conv_block(4, 4, conv_type='inverse')
    with pytest.raises(ValueError):
        sparse_conv_block(4, 4, conv_type='dense')
