"""Unit tests of the results-format helpers (no dataset needed)."""
import numpy as np
import pytest
import torch
from nuscenes.eval.detection.constants import ATTRIBUTE_NAMES, DETECTION_NAMES

from perception_kd.evaluation import (
    NUSCENES_DETECTION_CLASSES,
    NuScenesDetMetric,
    attribute_name,
    classes_from_metainfo,
    default_eval_set,
    gt_to_predictions,
    predictions_to_results,
)
from perception_kd.structures import Det3DDataSample, make_transform, quat_to_matrix, rotz


@pytest.mark.parametrize('name, speed, expected', [
    ('car', 5.0, 'vehicle.moving'), ('car', 0.1, 'vehicle.parked'),
    ('truck', 0.21, 'vehicle.moving'), ('truck', 0.2, 'vehicle.parked'),
    ('trailer', 0.0, 'vehicle.parked'), ('construction_vehicle', 3.0, 'vehicle.moving'),
    ('bus', 8.0, 'vehicle.moving'), ('bus', 0.0, 'vehicle.stopped'),
    ('pedestrian', 1.3, 'pedestrian.moving'), ('pedestrian', 0.05, 'pedestrian.standing'),
    ('bicycle', 4.0, 'cycle.with_rider'), ('bicycle', 0.0, 'cycle.without_rider'),
    ('motorcycle', 0.5, 'cycle.with_rider'), ('motorcycle', 0.1, 'cycle.without_rider'),
    ('barrier', 10.0, ''), ('traffic_cone', 0.0, ''), ('car', float('nan'), 'vehicle.parked'),
])
def test_attribute_rule(name, speed, expected):
    assert attribute_name(name, speed) == expected


def test_attribute_rule_covers_every_class_with_valid_names():
    for name in DETECTION_NAMES:
        for speed in (0.0, 10.0):
            attr = attribute_name(name, speed)
            assert attr == '' or attr in ATTRIBUTE_NAMES
    assert sorted(NUSCENES_DETECTION_CLASSES) == sorted(DETECTION_NAMES)


def test_default_classes_match_the_dataset():
    from perception_kd.datasets import CLASSES
    assert tuple(NUSCENES_DETECTION_CLASSES) == tuple(CLASSES)


def test_predictions_to_results_global_frame():
    lidar2global = make_transform(rotz(0.5), [100.0, 200.0, 1.0])
    boxes = np.array([[1.0, 2.0, 0.5, 4.0, 2.0, 1.5, 0.3, 1.0, 0.0]])
    out = predictions_to_results(
        'tok', boxes, np.array([0.7]), np.array([0]), ['car'], lidar2global
    )
    assert len(out) == 1
    box = out[0]
    centre = rotz(0.5) @ np.array([1.0, 2.0, 0.5]) + [100.0, 200.0, 1.0]
    np.testing.assert_allclose(box['translation'], centre)
    np.testing.assert_allclose(box['size'], [2.0, 4.0, 1.5])  # w, l, h
    np.testing.assert_allclose(quat_to_matrix(box['rotation']), rotz(0.8), atol=1e-12)
    np.testing.assert_allclose(box['velocity'], [np.cos(0.5), np.sin(0.5)])
    assert box['detection_name'] == 'car' and box['attribute_name'] == 'vehicle.moving'
    assert box['detection_score'] == pytest.approx(0.7) and box['sample_token'] == 'tok'


def test_predictions_to_results_nan_velocity_and_empty():
    boxes = np.array([[0, 0, 0, 1, 1, 1, 0, np.nan, np.nan]], dtype=float)
    out = predictions_to_results('t', boxes, np.ones(1), np.array([7]),
                                 NUSCENES_DETECTION_CLASSES, np.eye(4))
    assert out[0]['velocity'] == [0.0, 0.0]
    assert out[0]['attribute_name'] == 'pedestrian.standing'
    assert predictions_to_results('t', np.zeros((0, 9)), np.zeros(0), np.zeros(0), ['car'],
                                  np.eye(4)) == []


def test_predictions_to_results_rejects_bad_labels():
    with pytest.raises(ValueError, match='labels'):
        predictions_to_results('t', np.zeros((1, 9)), np.ones(1), np.array([3]), ['car'], np.eye(4))


def test_gt_to_predictions_filters():
    info = dict(token='t', instances=[
        dict(bbox_3d=[1, 2, 3, 4, 5, 6, 0.1], bbox_label_3d=0, velocity=[1.0, 2.0],
             bbox_3d_isvalid=True),
        dict(bbox_3d=[1, 2, 3, 4, 5, 6, 0.1], bbox_label_3d=-1, velocity=[0, 0],
             bbox_3d_isvalid=True),
        dict(bbox_3d=[7, 8, 9, 1, 1, 1, 0.0], bbox_label_3d=2, velocity=[np.nan, np.nan],
             bbox_3d_isvalid=False),
    ])
    pred = gt_to_predictions(info)
    assert pred.bboxes_3d.shape == (1, 9) and pred.labels_3d.tolist() == [0]
    np.testing.assert_allclose(pred.bboxes_3d[0].numpy(), [1, 2, 3, 4, 5, 6, 0.1, 1, 2], rtol=1e-6)
    pred = gt_to_predictions(info, only_valid=False)
    assert pred.labels_3d.tolist() == [0, 2]
    assert torch.equal(pred.bboxes_3d[1, 7:], torch.zeros(2))
    assert torch.equal(pred.scores_3d, torch.ones(2))
    empty = gt_to_predictions(dict(token='e', instances=[]))
    assert empty.bboxes_3d.shape == (0, 9) and len(empty.labels_3d) == 0


def test_classes_from_metainfo():
    assert classes_from_metainfo({'categories': {'truck': 1, 'car': 0}}) == ['car', 'truck']
    assert classes_from_metainfo({}) is None
    with pytest.raises(ValueError):
        classes_from_metainfo({'categories': {'car': 0, 'truck': 2}})


def test_default_eval_set():
    assert default_eval_set('v1.0-mini') == 'mini_val'
    assert default_eval_set('v1.0-trainval') == 'val'
    assert default_eval_set('v1.0-test') == 'test'
    with pytest.raises(ValueError):
        default_eval_set('v2')


def test_process_accepts_data_samples_and_dicts():
    metric = NuScenesDetMetric(data_root='unused', ann_file='unused.pkl')
    pred = gt_to_predictions(dict(instances=[dict(bbox_3d=[1, 2, 3, 4, 5, 6, 0.1], bbox_label_3d=0,
                                                  velocity=[0, 0], bbox_3d_isvalid=True)]))
    sample = Det3DDataSample(metainfo=dict(token='a'))
    sample.pred_instances_3d = pred
    metric.process(
        {}, [sample, sample.to_dict(), dict(token='b', pred_instances_3d=pred.to_dict())]
    )
    assert [r['token'] for r in metric.results] == ['a', 'a', 'b']
    for res in metric.results:
        assert res['bboxes'].shape == (1, 9) and res['bboxes'].dtype == np.float64
        np.testing.assert_array_equal(res['labels'], [0])
    with pytest.raises(KeyError, match='token'):
        metric.process({}, [dict(pred_instances_3d=pred.to_dict())])
    with pytest.raises(KeyError, match='pred_instances_3d'):
        metric.process({}, [dict(token='c')])


def test_missing_files_are_named(tmp_path):
    metric = NuScenesDetMetric(data_root=str(tmp_path), ann_file='nope.pkl')
    metric.results.append(dict(token='x', bboxes=np.zeros((0, 9)), scores=np.zeros(0),
                               labels=np.zeros(0, dtype=np.int64)))
    with pytest.raises(FileNotFoundError, match='nope.pkl'):
        metric.evaluate(1)
