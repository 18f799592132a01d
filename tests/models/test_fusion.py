"""BEV fusers: shapes, channel attention, clear errors."""
import pytest
import torch

from perception_kd.registry import MODELS


@pytest.mark.parametrize('kind', ['ConvFuser', 'ChannelAttentionFuser'])
@pytest.mark.parametrize('kernel_size', [1, 3])
def test_fuser_shapes_and_gradients(kind, kernel_size):
    fuser = MODELS.build(dict(type=kind, in_channels=[16, 8], out_channels=12,
                              kernel_size=kernel_size))
    assert fuser.conv[0].weight.shape == (12, 24, kernel_size, kernel_size)
    lidar = torch.randn(2, 16, 20, 24, requires_grad=True)
    camera = torch.randn(2, 8, 20, 24, requires_grad=True)
    out = fuser([lidar, camera])
    assert out.shape == (2, 12, 20, 24)
    out.sum().backward()
    assert lidar.grad.abs().sum() > 0 and camera.grad.abs().sum() > 0


def test_channel_attention_reweights_channels():
    fuser = MODELS.build(dict(type='ChannelAttentionFuser', in_channels=[4, 4], out_channels=4))
    fuser.eval()
    maps = [torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)]
    gate = fuser.attention(torch.cat(maps, 1))
    assert gate.shape == (1, 8, 1, 1) and ((gate > 0) & (gate < 1)).all()
    torch.nn.init.constant_(fuser.attention[3].bias, -50.0)  # gate ~ 0: nothing passes
    torch.nn.init.zeros_(fuser.attention[3].weight)
    expected = fuser.conv(torch.zeros(1, 8, 8, 8))
    assert torch.allclose(fuser(maps), expected, atol=1e-6)


def test_fuser_errors():
    fuser = MODELS.build(dict(type='ConvFuser', in_channels=[16, 8], out_channels=12))
    with pytest.raises(ValueError, match='one grid'):
        fuser([torch.randn(1, 16, 20, 20), torch.randn(1, 8, 20, 24)])
    with pytest.raises(ValueError, match=r'channels \[16, 4\]'):
        fuser([torch.randn(1, 16, 20, 20), torch.randn(1, 4, 20, 20)])
    with pytest.raises(ValueError, match='expects 2 BEV maps'):
        fuser([torch.randn(1, 16, 20, 20)])


def test_lidarinit_config_loads_every_lidar_tensor_into_the_fusion_model():
    """configs/bevfusion_cpu_lidarinit.py starts the fusion model from a LiDAR checkpoint:
    every LiDAR tensor has a same-named, same-shaped place; only the camera branch and the
    fuser are left to train from scratch."""
    import os

    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    configs = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')
    fusion_cfg = Config.fromfile(os.path.join(configs, 'bevfusion_cpu_lidarinit.py'))
    lidar_cfg = Config.fromfile(os.path.join(configs, 'centerpoint_lidar_cpu.py'))
    assert fusion_cfg.load_from.endswith('centerpoint_lidar_cpu/epoch_12.pth')
    with DefaultScope.overwrite_default_scope('perception_kd'):
        lidar = MODELS.build(lidar_cfg.model).state_dict()
        fusion = MODELS.build(fusion_cfg.model)
    result = fusion.load_state_dict(lidar, strict=False)  # as mmengine's load_from does
    assert result.unexpected_keys == []
    assert {k.split('.')[0] for k in result.missing_keys} == {'camera_encoder', 'fuser'}
    loaded = fusion.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in lidar.items())
