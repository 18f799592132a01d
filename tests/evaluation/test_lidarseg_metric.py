"""LidarSegMetric: a hand-computed case, and equality with the devkit's LidarSegEval."""
import os

import numpy as np
import pytest
import torch

import perception_kd
from perception_kd.datasets import NuScenesDataset
from perception_kd.datasets.transforms import (
    LoadLidarsegLabels,
    LoadPointsFromFile,
    Pack3DDetInputs,
)
from perception_kd.evaluation import LidarSegMetric
from perception_kd.structures import Det3DDataSample, PointData

perception_kd.register_all_modules()


def sample(gt, pred, **meta):
    out = Det3DDataSample(metainfo=meta)
    out.gt_pts_seg = PointData(pts_semantic_mask=torch.tensor(gt))
    out.pred_pts_seg = PointData(pts_semantic_mask=torch.tensor(pred))
    return out


def test_hand_computed_case():
    metric = LidarSegMetric(classes=('a', 'b', 'c', 'd'), ignore_index=4)
    metric.process({}, [sample([0, 0, 1, 1, 4], [0, 1, 1, 1, 3]),
                        sample([2, 0, 4], [1, 0, 0])])
    cm = sum(r['confusion'] for r in metric.results)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    out = metric.compute_metrics(metric.results)
    # a: 2 / (3 + 2 - 2); b: 2 / (2 + 4 - 2); c: 0 / 1; d: absent -> no IoU
    assert out['IoU_a'] == pytest.approx(2 / 3) and out['IoU_b'] == pytest.approx(0.5)
    assert out['IoU_c'] == 0.0 and out['IoU_d'] == -1.0
    assert out['mIoU'] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert out['aAcc'] == pytest.approx(4 / 6)


def test_equals_devkit_lidarseg_eval(tiny_root, tiny_infos, tiny_nusc, tmp_path, monkeypatch):
    from nuscenes.eval.lidarseg import utils
    from nuscenes.eval.lidarseg.evaluate import LidarSegEval
    from nuscenes.eval.lidarseg.validate_submission import validate_submission
    # the tiny tree holds one scene of the devkit's mini_val split (scene-0103)
    splits, present = utils.create_splits_scenes(), {scene['name'] for scene in tiny_nusc.scene}
    monkeypatch.setattr(utils, 'create_splits_scenes', lambda verbose=False: {
        name: [scene for scene in scenes if scene in present] for name, scenes in splits.items()})
    pipeline = [LoadPointsFromFile(use_dim=4), LoadLidarsegLabels(),
                Pack3DDetInputs(keys=['points', 'pts_semantic_mask'])]
    data = NuScenesDataset(data_root=tiny_root, ann_file='nuscenes_infos_val.pkl',
                           pipeline=pipeline, test_mode=True, filter_empty_gt=False)
    results_dir = str(tmp_path / 'results')
    metric = LidarSegMetric(results_dir=results_dir, eval_set='mini_val')
    rng = np.random.default_rng(0)
    for idx in range(len(data)):
        item = data[idx]
        gt = item['data_samples'].gt_pts_seg.pts_semantic_mask
        # noisy predictions: right for 70 % of the points, some classes never predicted
        pred = torch.where(torch.from_numpy(rng.random(len(gt)) < 0.7), gt,
                           torch.from_numpy(rng.integers(0, 12, len(gt))))
        pred = torch.where(pred >= 16, torch.zeros_like(pred), pred)
        item['data_samples'].pred_pts_seg = PointData(pts_semantic_mask=pred)
        metric.process({}, [item['data_samples']])
    ours = metric.compute_metrics(metric.results)
    validate_submission(tiny_nusc, results_dir, 'mini_val')
    devkit = LidarSegEval(tiny_nusc, results_dir, 'mini_val').evaluate()
    assert ours['mIoU'] == pytest.approx(devkit['miou'], abs=1e-6)
    for name, value in devkit['iou_per_class'].items():
        if name == 'ignore':
            continue
        expected = -1.0 if np.isnan(value) else value
        assert ours[f'IoU_{name}'] == pytest.approx(expected, abs=1e-6), name
    assert os.path.isfile(os.path.join(results_dir, 'mini_val', 'submission.json'))
