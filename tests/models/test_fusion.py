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
