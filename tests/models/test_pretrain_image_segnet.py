"""ImageSegNet: the devkit's 32 -> 16 class map, learning on packed batches through the
data preprocessor, ignored pixels, predictions, and PixelSegMetric."""
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper

from perception_kd.evaluation import PixelSegMetric
from perception_kd.models.pretrain import (
    LIDARSEG_CLASSES,
    LIDARSEG_FINE_CLASSES,
    ImageSegNet,
    fine_to_coarse_lut,
)
from perception_kd.structures import Det3DDataSample

FINE = {name: idx for idx, name in enumerate(LIDARSEG_FINE_CLASSES)}
COARSE = {name: idx + 1 for idx, name in enumerate(LIDARSEG_CLASSES)}


def tiny_net(**kwargs) -> ImageSegNet:
    return ImageSegNet(backbone=dict(type='ResNet', depth=18, base_channels=8,
                                     out_indices=(0, 1, 2, 3)),
                       neck=dict(type='ImageFPN', in_channels=[8, 16, 32, 64], out_channels=16),
                       **kwargs)


def test_fine_to_coarse_is_the_devkits():
    lut = fine_to_coarse_lut()
    assert lut.shape == (32,)
    assert lut[FINE['noise']] == 0 and lut[FINE['vehicle.ego']] == 0 and lut[FINE['animal']] == 0
    assert lut[FINE['vehicle.car']] == COARSE['car'] == 4
    assert lut[FINE['human.pedestrian.police_officer']] == COARSE['pedestrian']
    assert lut[FINE['vehicle.bus.bendy']] == lut[FINE['vehicle.bus.rigid']] == COARSE['bus']
    assert lut[FINE['flat.driveable_surface']] == 11 and lut[FINE['static.vegetation']] == 16
    assert sorted(set(lut.tolist())) == list(range(17))


def synthetic_batch(seed=0, batch=2, ncam=2, height=32, width=48) -> dict:
    """Packed samples whose images colour-code their fine class maps (learnable)."""
    gen = np.random.default_rng(seed)
    fine_ids = np.array([FINE[n] for n in ('noise', 'vehicle.car', 'flat.driveable_surface',
                                           'static.vegetation', 'static.manmade')])
    colours = gen.integers(0, 256, (len(fine_ids), 3))
    imgs, sems = [], []
    for _ in range(batch):
        blocks = gen.integers(0, len(fine_ids), (ncam, height // 8, width // 8))
        idx = blocks.repeat(8, 1).repeat(8, 2)
        sems.append(torch.from_numpy(fine_ids[idx].astype(np.uint8)))
        img = colours[idx].transpose(0, 3, 1, 2) + gen.normal(0, 8, (ncam, 3, height, width))
        imgs.append(torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8)))
    return dict(inputs=dict(imgs=imgs, img_semantics=sems),
                data_samples=[Det3DDataSample() for _ in range(batch)])


def test_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    net = tiny_net()
    wrapper = OptimWrapper(torch.optim.Adam(net.parameters(), lr=1e-2))
    batch = synthetic_batch()
    losses = [float(net.train_step(batch, wrapper)['loss_seg'].detach()) for _ in range(12)]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0], losses


def test_loss_without_upsampling_and_ignored_pixels():
    torch.manual_seed(0)
    net = tiny_net(upsample_logits=False)
    batch = synthetic_batch()
    data = net.data_preprocessor(batch, True)
    assert data['inputs']['imgs'].shape == (2, 2, 3, 32, 48)
    assert torch.isfinite(net(**data, mode='loss')['loss_seg'])
    # only ignored classes (noise/sky, animal, ego): a zero loss, no NaN
    data['inputs']['img_semantics'] = [torch.full((2, 32, 48), FINE['animal'], dtype=torch.uint8)
                                       for _ in range(2)]
    loss = net(**data, mode='loss')['loss_seg']
    assert float(loss.detach()) == 0.0
    loss.backward()


def test_input_errors():
    net = tiny_net()
    data = net.data_preprocessor(synthetic_batch(), True)
    sems = data['inputs'].pop('img_semantics')
    with pytest.raises(KeyError, match='LoadImageSemantics'):
        net(**data, mode='loss')
    data['inputs']['img_semantics'] = [s[:, :16] for s in sems]
    with pytest.raises(ValueError, match='do not match the images'):
        net(**data, mode='loss')
    data['inputs']['img_semantics'] = [torch.full_like(s, 40) for s in sems]
    with pytest.raises(ValueError, match='outside 0..31'):
        net(**data, mode='loss')
    with pytest.raises(ValueError, match='unknown mode'):
        net(**data, mode='features')


def test_predict_and_pixel_metric():
    torch.manual_seed(0)
    net = tiny_net()
    batch = synthetic_batch()
    outputs = net.val_step(batch)
    assert len(outputs) == 2
    pred, gt = outputs[0].pred_sem_seg_2d, outputs[0].gt_sem_seg_2d
    assert pred.shape == gt.shape == (2, 32, 48) and pred.dtype == torch.uint8
    assert int(pred.min()) >= 1 and int(pred.max()) <= 16
    assert set(gt.unique().tolist()) <= {0, COARSE['car'], 11, 15, 16}
    logits = net(**net.data_preprocessor(batch), mode='tensor')
    assert logits.shape == (2, 2, 16, 8, 12)
    # the metric over the predictions, and a perfect prediction scores 1
    metric = PixelSegMetric()
    metric.process({}, [s.to_dict() for s in outputs])
    result = metric.compute_metrics(metric.results)
    assert 0.0 <= result['mIoU'] <= 1.0
    perfect = PixelSegMetric()
    perfect.process({}, [dict(pred_sem_seg_2d=s.gt_sem_seg_2d.clamp(min=1),
                              gt_sem_seg_2d=s.gt_sem_seg_2d) for s in outputs])
    assert perfect.compute_metrics(perfect.results)['mIoU'] == pytest.approx(1.0)


def test_pixel_metric_by_hand():
    metric = PixelSegMetric(class_names=('a', 'b'))
    gt = torch.tensor([[0, 1, 1, 2, 2, 2]])
    pred = torch.tensor([[2, 1, 2, 2, 2, 1]])  # the ignored pixel (gt 0) does not count
    metric.process({}, [dict(pred_sem_seg_2d=pred, gt_sem_seg_2d=gt)])
    result = metric.compute_metrics(metric.results)
    # a: inter 1, union 2 + 2 - 1 = 3; b: inter 2, union 3 + 3 - 2 = 4
    assert result['IoU_a'] == pytest.approx(1 / 3) and result['IoU_b'] == pytest.approx(0.5)
    assert result['mIoU'] == pytest.approx((1 / 3 + 0.5) / 2)
    with pytest.raises(KeyError, match='pred_sem_seg_2d'):
        metric.process({}, [dict(gt_sem_seg_2d=gt)])
