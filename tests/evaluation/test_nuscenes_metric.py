"""NuScenesDetMetric end to end on the tiny synthetic tree (devkit DetectionEval)."""
import json

import mmengine
import numpy as np
from mmengine.registry import DefaultScope

from perception_kd.evaluation import NuScenesDetMetric, gt_to_predictions
from perception_kd.registry import METRICS
from perception_kd.structures import Det3DDataSample


def _val_infos(tiny_infos):
    return mmengine.load(tiny_infos['val'])


def _present_classes(nusc):
    """Detection classes with ground truth that the devkit evaluates on mini_val."""
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes, load_gt
    from nuscenes.eval.detection.data_classes import DetectionBox
    cfg = config_factory('detection_cvpr_2019')
    gt = filter_eval_boxes(nusc, add_center_dist(nusc, load_gt(nusc, 'mini_val', DetectionBox)),
                           cfg.class_range)
    return {box.detection_name for box in gt.all}


def _build(tiny_root, tiny_infos, **kwargs):
    # as a config with default_scope='perception_kd' would (another test may have left an
    # mmengine default scope behind)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return METRICS.build(dict(type='NuScenesDetMetric', data_root=tiny_root,
                                  ann_file=tiny_infos['val'], version='v1.0-mini', **kwargs))


def test_gt_as_predictions_scores_one(tiny_root, tiny_infos, tiny_nusc, tmp_path):
    infos = _val_infos(tiny_infos)
    assert infos['data_list'], 'tiny val split is empty'
    metric = _build(tiny_root, tiny_infos, jsonfile_prefix=str(tmp_path / 'eval'))
    assert isinstance(metric, NuScenesDetMetric)
    samples = []
    for i, info in enumerate(infos['data_list']):
        sample = Det3DDataSample(metainfo=dict(token=info['token']))
        sample.pred_instances_3d = gt_to_predictions(info)
        samples.append(sample if i % 2 else sample.to_dict())  # both forms
    metric.process({}, samples)
    out = metric.evaluate(len(samples))

    present = _present_classes(tiny_nusc)
    assert present, 'the tiny val split has no evaluable ground truth'
    for name in present:
        assert out[f'NuScenes/{name}_AP'] >= 0.99, (name, out[f'NuScenes/{name}_AP'])
        assert out[f'NuScenes/{name}_ATE'] < 0.01, name
        assert out[f'NuScenes/{name}_ASE'] < 0.01, name
        aoe = out[f'NuScenes/{name}_AOE']
        assert np.isnan(aoe) or aoe < 0.01, name  # nan: cones have no orientation
    # classes without ground truth score AP 0 in the devkit's mean
    assert out['NuScenes/mAP'] >= 0.99 * len(present) / 10
    if len(present) == 10:
        assert out['NuScenes/mAP'] >= 0.99
    assert all(isinstance(v, float) for v in out.values())
    for key in ('NuScenes/NDS', 'NuScenes/mATE', 'NuScenes/mASE', 'NuScenes/mAOE',
                'NuScenes/mAVE', 'NuScenes/mAAE', 'NuScenes/car_AP_dist_2.0'):
        assert key in out

    # the results JSON is kept, with every sample token of the split
    assert metric.result_path is not None
    with open(metric.result_path) as f:
        written = json.load(f)
    split_tokens = {
        s['token']
        for s in tiny_nusc.sample
        if tiny_nusc.get('scene', s['scene_token'])['name'] in ('scene-0103', 'scene-0916')
    }
    assert set(written['results']) == split_tokens
    assert written['meta']['use_lidar'] is True and written['meta']['use_camera'] is False


def test_empty_predictions_score_zero(tiny_root, tiny_infos):
    infos = _val_infos(tiny_infos)
    metric = _build(tiny_root, tiny_infos)
    empty = gt_to_predictions(dict(instances=[]))
    # predictions for only the first sample: the others must be filled in as empty
    metric.process(
        {}, [dict(token=infos['data_list'][0]['token'], pred_instances_3d=empty.to_dict())]
    )
    out = metric.evaluate(1)
    assert out['NuScenes/mAP'] == 0.0
    assert out['NuScenes/NDS'] == 0.0
    assert metric.result_path is None


def test_score_threshold_drops_everything(tiny_root, tiny_infos):
    infos = _val_infos(tiny_infos)
    metric = _build(tiny_root, tiny_infos, score_threshold=1.5)
    metric.process({}, [dict(token=info['token'],
                             pred_instances_3d=gt_to_predictions(info).to_dict())
                        for info in infos['data_list']])
    assert metric.evaluate(len(infos['data_list']))['NuScenes/mAP'] == 0.0
