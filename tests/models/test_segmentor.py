"""SegDataPreprocessor + VoxelSegmentor: per-point loss/predictions, linear probing and
loading a pretrained backbone by prefix."""
import pytest
import torch
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.registry import MODELS
from perception_kd.structures import Det3DDataSample, PointData
from perception_kd.utils.checkpoint import CheckpointMismatchError

perception_kd.register_all_modules()

BACKBONE = dict(type='MinkUNet', in_channels=4, base_channels=8, encoder_channels=(8, 16),
                encoder_blocks=(1, 1), decoder_channels=(16, 8), decoder_blocks=(1, 1))
PREPROCESSOR = dict(type='SegDataPreprocessor', voxel_size=[0.5, 0.5, 0.5],
                    point_cloud_range=[-8, -8, -2, 8, 8, 2])


def build(**kwargs):
    cfg = dict(type='VoxelSegmentor', backbone=BACKBONE, data_preprocessor=PREPROCESSOR,
               num_classes=4, ignore_index=4, **kwargs)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(cfg)


def batch(sizes=(300, 200), seed=0):
    gen = torch.Generator().manual_seed(seed)
    points, samples = [], []
    for size in sizes:
        pts = (torch.rand(size, 4, generator=gen) - 0.5) * torch.tensor([20.0, 20.0, 4.0, 1.0])
        labels = (pts[:, 0] > 0).long() + 2 * (pts[:, 1] > 0).long()   # learnable quadrants
        labels[:10] = 4                                                # ignored
        sample = Det3DDataSample()
        sample.gt_pts_seg = PointData(pts_semantic_mask=labels)
        points.append(pts)
        samples.append(sample)
    return dict(inputs=dict(points=points), data_samples=samples)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_preprocessor_outputs_point_voxel_map():
    model = build()
    data = model.data_preprocessor(batch(), training=True)
    vox = data['inputs']['voxels']
    assert vox['batch_size'] == 2 and vox['sparse_shape'] == (8, 32, 32)
    assert vox['points_per_sample'].tolist() == [300, 200]
    assert vox['point2voxel'].shape == (500,) and int(vox['point2voxel'].min()) >= 0
    assert vox['features'].shape == (len(vox['coors']), 4)


def test_loss_decreases_and_predict_per_point():
    torch.manual_seed(0)
    model = build()
    data = model.data_preprocessor(batch(), training=True)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(**data, mode='loss')['loss_sem_seg']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    out = model(**model.data_preprocessor(batch(), training=False), mode='predict')
    masks = [s.pred_pts_seg.pts_semantic_mask for s in out]
    assert [len(m) for m in masks] == [300, 200] and masks[0].dtype == torch.int64
    assert int(torch.cat(masks).max()) < 4


def test_freeze_backbone_linear_probing():
    model = build(freeze_backbone=True)
    model.train()
    assert not model.backbone.training and model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    data = model.data_preprocessor(batch(), training=True)
    running = model.backbone.conv_input[0][1].running_mean.clone()
    model(**data, mode='loss')['loss_sem_seg'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    assert torch.equal(model.backbone.conv_input[0][1].running_mean, running)


def test_init_backbone_from_prefix(tmp_path):
    source = build()
    state = {f'backbone_3d.{k}': v for k, v in source.backbone.state_dict().items()}
    state['head_3d.weight'] = torch.zeros(3)
    path = tmp_path / 'lima.pth'
    torch.save(dict(state_dict=state, meta={}), path)
    model = build(init_backbone=dict(checkpoint=str(path)))
    model.init_weights()   # the Runner calls it before training: must keep the loaded weights
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value)

    del state['backbone_3d.conv_input.0.0.weight']
    state['backbone_3d.extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state), path)
    with pytest.raises(CheckpointMismatchError) as err:
        build(init_backbone=dict(checkpoint=str(path)))
    assert 'conv_input.0.0.weight' in str(err.value) and 'extra.weight' in str(err.value)
    with pytest.raises(CheckpointMismatchError, match='no key under the prefix'):
        build(init_backbone=dict(checkpoint=str(path), prefix='student.'))
