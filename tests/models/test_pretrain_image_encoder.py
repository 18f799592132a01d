"""FrozenImageEncoder: frozen for good (no gradients, no updates, eval forever), its
normalisation and shapes, checkpoint loading by prefix with clear errors, TimmBackbone."""
import copy

import pytest
import torch
from torch import nn

from perception_kd.models.pretrain import (
    FrozenImageEncoder,
    ImageEncoderCheckpointError,
    ImageSegNet,
)

BACKBONE = dict(type='ResNet', depth=18, base_channels=8, out_indices=(0, 1, 2, 3))
NECK = dict(type='ImageFPN', in_channels=[8, 16, 32, 64], out_channels=16)


def tiny_encoder(**kwargs) -> FrozenImageEncoder:
    return FrozenImageEncoder(backbone=copy.deepcopy(BACKBONE), neck=copy.deepcopy(NECK),
                              probe_size=(32, 32), **kwargs)


def images(batch=2, height=32, width=48) -> torch.Tensor:
    return torch.rand(batch, 3, height, width) * 255


def test_shapes_stride_channels_and_multicamera_input():
    torch.manual_seed(0)
    enc = tiny_encoder()
    assert (enc.out_channels, enc.stride) == (16, 4)
    assert enc(images()).shape == (2, 16, 8, 12)
    multi = torch.rand(2, 3, 3, 32, 48) * 255
    out = enc(multi)
    assert out.shape == (2, 3, 16, 8, 12)
    assert torch.allclose(out[1, 2], enc(multi[1, 2:3])[0], atol=1e-5)
    no_neck = FrozenImageEncoder(backbone=dict(BACKBONE, out_indices=(1, 2)), probe_size=(32, 32))
    assert (no_neck.out_channels, no_neck.stride) == (32, 16)  # the last level by default
    with pytest.raises(ValueError, match='expects'):
        enc(torch.rand(2, 4, 32, 48))


def test_normalises_its_input():
    torch.manual_seed(0)
    enc = tiny_encoder(mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0))
    x = images()
    norm = (x - torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)) / \
        torch.tensor([2.0, 4.0, 8.0]).view(1, 3, 1, 1)
    expected = enc.neck(enc.backbone(norm))
    assert torch.allclose(enc(x), expected, atol=1e-5)


class Student(nn.Module):
    """A model containing the frozen teacher and a trainable head on its features."""

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.teacher = teacher
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        return self.head(self.teacher(x)).square().mean()


def test_frozen_no_grad_no_update_and_always_eval():
    torch.manual_seed(0)
    model = Student(tiny_encoder())
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    head_before = model.head.weight.clone()
    model.train()
    assert not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    assert not any(p.requires_grad for p in model.teacher.parameters())
    optim = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(2):
        optim.zero_grad()
        loss = model(images())
        loss.backward()
        optim.step()
    assert all(p.grad is None for p in model.teacher.parameters())
    for key, value in model.teacher.state_dict().items():  # weights and BN statistics
        assert torch.equal(value, before[key]), key
    assert not torch.equal(model.head.weight, head_before)  # the rest did train
    out = model.teacher(images())
    assert not out.requires_grad


def test_outputs_equal_under_train_and_eval():
    torch.manual_seed(0)
    enc = tiny_encoder()
    x = images()
    enc.train()
    first = enc(x)
    enc.eval()
    second = enc(x)
    enc.train(True)
    third = enc(x)
    assert torch.equal(first, second) and torch.equal(first, third)


def segnet_checkpoint(tmp_path, **extra) -> tuple:
    """An ImageSegNet with non-default weights (BN statistics too), saved as mmengine does."""
    torch.manual_seed(1)
    net = ImageSegNet(backbone=copy.deepcopy(BACKBONE), neck=copy.deepcopy(NECK))
    net.train()
    net.extract_feat(torch.randn(2, 3, 32, 48) * 3 + 1)  # BN running stats move
    for param in net.parameters():
        param.data.add_(torch.randn_like(param) * 0.01)
    path = tmp_path / 'epoch_1.pth'
    state = {f'{k}': v for k, v in net.state_dict().items()}
    torch.save(dict(meta=dict(epoch=1), state_dict=state, **extra), path)
    return net, path


def test_loads_imagesegnet_checkpoint_and_work_dir(tmp_path):
    net, path = segnet_checkpoint(tmp_path)
    net.eval()
    enc = tiny_encoder(checkpoint=str(path))
    x = images()
    expected = net.extract_feat((x - enc.mean) / enc.std)
    assert torch.allclose(enc(x), expected, atol=1e-5)
    (tmp_path / 'last_checkpoint').write_text(str(path))
    from_dir = tiny_encoder(checkpoint=str(tmp_path))  # a work dir: its latest checkpoint
    assert from_dir.checkpoint == str(path)
    assert torch.equal(from_dir(x), enc(x))
    # runner-style initialisation must not overwrite the loaded weights
    from_dir.init_weights()
    assert torch.equal(from_dir(x), enc(x))


def test_loads_by_prefix(tmp_path):
    net, _ = segnet_checkpoint(tmp_path)
    state = {f'student.camera_encoder.{k}': v for k, v in net.state_dict().items()}
    state['student.camera_encoder.view_transform.w'] = torch.zeros(3)  # other parts: skipped
    state['teacher.backbone.conv1.weight'] = torch.zeros(1)  # outside the prefix: skipped
    path = tmp_path / 'distilled.pth'
    torch.save(dict(state_dict=state), path)
    enc = tiny_encoder(checkpoint=str(path), prefix='student.camera_encoder.')
    for key, value in enc.encoder_state_dict().items():
        assert torch.equal(value, net.state_dict()[key]), key


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='lima_image_teacher_cpu.py'):
        tiny_encoder(checkpoint=str(tmp_path / 'missing.pth'))
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        tiny_encoder(checkpoint=str(tmp_path))  # an empty work dir
    net, path = segnet_checkpoint(tmp_path)
    with pytest.raises(ImageEncoderCheckpointError) as err:  # wrong prefix: all missing
        tiny_encoder(checkpoint=str(path), prefix='camera_encoder.')
    msg = str(err.value)
    assert str(path) in msg and 'missing' in msg and 'backbone.conv1.weight' in msg
    assert "set prefix to one of them" in msg and "['']" in msg
    state = dict(net.state_dict())
    state['neck.extra.weight'] = torch.zeros(1)
    del state['backbone.layer4.1.bn2.bias']
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict=state), bad)
    with pytest.raises(ImageEncoderCheckpointError) as err:
        tiny_encoder(checkpoint=str(bad))
    msg = str(err.value)
    assert 'neck.extra.weight' in msg and 'backbone.layer4.1.bn2.bias' in msg
    assert 'unexpected' in msg
    with pytest.raises(ImageEncoderCheckpointError, match='another shape'):  # other widths
        FrozenImageEncoder(backbone=dict(BACKBONE, base_channels=4),
                           neck=dict(NECK, in_channels=[4, 8, 16, 32]), probe_size=(32, 32),
                           checkpoint=str(path))


def test_registered_and_buildable_from_config():
    from mmengine.registry import DefaultScope

    from perception_kd.registry import MODELS
    with DefaultScope.overwrite_default_scope('perception_kd'):
        enc = MODELS.build(dict(type='FrozenImageEncoder', backbone=copy.deepcopy(BACKBONE),
                                neck=copy.deepcopy(NECK), probe_size=(32, 32)))
    assert isinstance(enc, FrozenImageEncoder) and enc.stride == 4


def test_timm_backbone_patch_tokens_and_features(tmp_path):
    timm = pytest.importorskip('timm', reason='timm is optional and not installed')
    from perception_kd.models.pretrain import TimmBackbone
    vit = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0,
                            dynamic_img_size=True)
    path = tmp_path / 'vit.pth'
    torch.save(vit.state_dict(), path)
    enc = FrozenImageEncoder(
        backbone=TimmBackbone('vit_tiny_patch16_224', checkpoint=str(path)),
        mean=(123.675, 116.28, 103.53), probe_size=(64, 64))
    assert (enc.stride, enc.out_channels) == (16, vit.num_features)
    assert enc(images(1, 64, 96)).shape == (1, vit.num_features, 4, 6)
    assert enc(images(1, 60, 90)).shape == (1, vit.num_features, 4, 6)  # padded to 64x96
    cnn = FrozenImageEncoder(backbone=dict(type='TimmBackbone', model_name='resnet18',
                                           out_indices=(2, 3)), probe_size=(64, 64))
    assert (cnn.stride, cnn.out_channels) == (16, 256)  # timm's level 3: layer3
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        TimmBackbone('resnet18', checkpoint=str(tmp_path / 'none.pth'))
