"""LiMAPretrainer on stub 3D/2D networks: losses, gradients, switches, memory across steps."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement
from torch import nn

from perception_kd.models.pretrain.pretrainer import LiMAPretrainer
from perception_kd.registry import MODELS


@MODELS.register_module(force=True)
class _StubPointNet(nn.Module):
    out_channels = 16

    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16))

    def forward(self, features, coors, batch_size, **kwargs):
        return self.mlp(features)


@MODELS.register_module(force=True)
class _StubImageEncoder(nn.Module):
    out_channels = 8

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, stride=4)
        self.requires_grad_(False)

    def forward(self, imgs):
        return self.conv(imgs / 255.0)


def make_batch(step, scenes=('s0', 's1'), n=200, ncam=2, hw=(16, 24), seed=0):
    g = torch.Generator().manual_seed(seed)        # the same clouds every step: memory hits
    points, pairing, samples = [], [], []
    for scene in scenes:
        pts = torch.cat([torch.rand(n, 3, generator=g) * 20 - 10, torch.rand(n, 1, generator=g)], 1)
        points.append(pts)
        seen = torch.arange(step % 2, n, 2)        # half the points are seen, by cam 0 or 1;
        #                                            the other half at the next step
        cam = (seen // 2) % ncam
        rows = (pts[seen, 0] + 10).div(20).mul(hw[0]).long().clamp(0, hw[0] - 1)
        cols = (pts[seen, 1] + 10).div(20).mul(hw[1]).long().clamp(0, hw[1] - 1)
        pair = torch.stack([seen, cam, rows, cols], 1)
        both = torch.nonzero(seen % 8 == step % 2).squeeze(1)  # some seen by both cameras
        pair = torch.cat(
            [pair, torch.stack([seen[both], 1 - cam[both], rows[both], cols[both]], 1)]
        )
        pairing.append(pair)
        sample = BaseDataElement(metainfo=dict(
            scene_token=scene, timestamp=float(step), token=f'{scene}-{step}',
            lidar2ego=np.eye(4), ego2global=np.eye(4)))
        samples.append(sample)
    # superpixels: 4x4 pixel blocks, the same in both cameras (the same "3D regions")
    r, c = torch.meshgrid(torch.arange(hw[0]), torch.arange(hw[1]), indexing='ij')
    sp = (r // 4) * (hw[1] // 4) + c // 4 + 1
    superpixels = sp.expand(len(scenes), ncam, *hw).clone()
    all_points = torch.cat(points)
    counts = [len(p) for p in points]
    voxels = dict(features=all_points, coors=torch.zeros(len(all_points), 4, dtype=torch.int32),
                  point2voxel=torch.arange(len(all_points)), batch_size=len(scenes),
                  points_per_sample=counts)
    imgs = torch.rand(len(scenes), ncam, 3, *hw, generator=g) * 255
    return dict(voxels=voxels, points=points, imgs=imgs, pairing=pairing,
                superpixels=superpixels), samples


def build(**kwargs):
    return LiMAPretrainer(backbone_3d=dict(type='_StubPointNet'),
                          image_encoder=dict(type='_StubImageEncoder'), embed_dim=8, **kwargs)


def test_base_loss_trains_3d_side_and_never_the_image_encoder():
    model = build()
    inputs, samples = make_batch(0)
    losses = model(inputs, samples, mode='loss')
    assert set(k for k in losses if k.startswith('loss_')) == {'loss_spatial'}
    assert torch.isfinite(losses['loss_spatial']) and losses['regions'] > 10
    losses['loss_spatial'].backward()
    assert model.head_3d.weight.grad.abs().sum() > 0
    assert model.backbone_3d.mlp[0].weight.grad.abs().sum() > 0
    assert model.head_2d.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.image_encoder.parameters())


def test_cross_view_merges_the_copies_seen_by_both_cameras():
    inputs, samples = make_batch(0)
    losses = build(cross_view=dict(enabled=True, min_shared=1, min_fraction=0.1))(
        inputs, samples, mode='loss')
    assert losses['merged'] > 0 and torch.isfinite(losses['loss_spatial'])


def test_memory_fills_fifo_hits_and_adds_regions():
    model = build(memory=dict(num_frames=2, voxel_size=0.5))
    hit = []
    for step in range(3):
        inputs, samples = make_batch(step)
        losses = model(inputs, samples, mode='loss')
        hit.append(float(losses['mem_hit']))
        assert torch.isfinite(losses['loss_spatial'])
    assert hit[0] == 0 and hit[1] > 0.4 and hit[2] > 0.4
    assert [len(model.memory.frames(i)) for i in range(2)] == [2, 2]
    assert losses['mem_regions'] > 0 and losses['mem_mb'] > 0
    # a replayed scene (time going back) empties the slot's memory
    inputs, samples = make_batch(0)
    assert float(model(inputs, samples, mode='loss')['mem_hit']) == 0


def test_cross_sequence_term_across_scenes_and_option_errors():
    inputs, samples = make_batch(0)
    losses = build(cross_sequence=dict(enabled=True, threshold=0.5))(inputs, samples, mode='loss')
    assert losses['xseq_matches'] > 0 and losses['loss_cross_sequence'].requires_grad
    with pytest.raises(KeyError, match='memory: unknown keys'):
        build(memory=dict(frames=3))
