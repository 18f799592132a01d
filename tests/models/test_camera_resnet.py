"""ResNet backbone: torchvision-compatible names, pretrained loading, freezing, shapes."""
import pytest
import torch

from perception_kd.models.camera import ResNet

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
# torchvision's documented parameter counts (with the 1000-class fc)
TORCHVISION_PARAMS = {18: 11_689_512, 50: 25_557_032}


def torchvision_keys(depth: int) -> set:
    """state_dict keys of torchvision.models.resnet<depth>, written from its layer layout."""
    bottleneck, layers = {18: (False, (2, 2, 2, 2)), 34: (False, (3, 4, 6, 3)),
                          50: (True, (3, 4, 6, 3))}[depth]
    keys = ['conv1.weight'] + [f'bn1.{s}' for s in BN]
    for stage, blocks in enumerate(layers, 1):
        for block in range(blocks):
            prefix = f'layer{stage}.{block}.'
            for conv in range(1, 4 if bottleneck else 3):
                keys += [f'{prefix}conv{conv}.weight'] + [f'{prefix}bn{conv}.{s}' for s in BN]
            if block == 0 and (stage > 1 or bottleneck):
                keys += [f'{prefix}downsample.0.weight'] + [f'{prefix}downsample.1.{s}' for s in BN]
    return set(keys + ['fc.weight', 'fc.bias'])


@pytest.mark.parametrize('depth', [18, 50])
def test_keys_and_sizes_match_torchvision(depth):
    model = ResNet(depth=depth, with_fc=True)
    assert set(model.state_dict()) == torchvision_keys(depth)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[depth]
    no_fc = ResNet(depth=depth)
    assert set(no_fc.state_dict()) == torchvision_keys(depth) - {'fc.weight', 'fc.bias'}
    state = model.state_dict()
    if depth == 50:  # v1.5: stride on the 3x3 conv, 1x1 projection shortcut in layer1
        assert state['layer2.0.conv2.weight'].shape == (128, 128, 3, 3)
        assert state['layer1.0.downsample.0.weight'].shape == (256, 64, 1, 1)
        assert state['fc.weight'].shape == (1000, 2048)
    else:
        assert state['layer2.0.downsample.0.weight'].shape == (128, 64, 1, 1)
        assert state['fc.weight'].shape == (1000, 512)


def test_pretrained_round_trip(tmp_path):
    source = ResNet(depth=18, with_fc=True)
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()
    path = tmp_path / 'resnet18.pth'
    torch.save(source.state_dict(), path)
    loaded = ResNet(depth=18, pretrained=str(path))  # fc dropped
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key
    with_fc = ResNet(depth=18, with_fc=True, pretrained=str(path))
    assert torch.equal(with_fc.fc.weight, source.fc.weight)
    torch.save({'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()}}, path)
    assert torch.equal(ResNet(depth=18, pretrained=str(path)).conv1.weight, source.conv1.weight)


def test_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a file this project knows how to download'):
        ResNet(depth=18, pretrained=str(tmp_path / 'missing.pth'))
    path = tmp_path / 'r18.pth'
    torch.save(ResNet(depth=18).state_dict(), path)
    with pytest.raises(RuntimeError, match=r'missing keys \[.layer1.2'):
        ResNet(depth=34, pretrained=str(path))
    state = ResNet(depth=18).state_dict()
    state['extra.weight'] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(RuntimeError, match='unexpected keys .*extra.weight'):
        ResNet(depth=18, pretrained=str(path))
    torch.save(ResNet(depth=18, base_channels=32).state_dict(), path)
    with pytest.raises(RuntimeError, match='shape mismatches'):
        ResNet(depth=18, pretrained=str(path))


def test_multi_scale_outputs_and_freezing():
    model = ResNet(depth=18, out_indices=(2, 3), base_channels=16, frozen_stages=1, norm_eval=True)
    assert model.out_channels == (64, 128)
    out = model(torch.randn(2, 3, 64, 96))
    assert [o.shape for o in out] == [(2, 64, 4, 6), (2, 128, 2, 3)]
    model.train()
    frozen = [model.conv1, model.bn1, model.layer1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bottleneck = ResNet(depth=50, out_indices=(1,), base_channels=8)
    assert bottleneck(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 4, 4)
