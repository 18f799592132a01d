"""Results JSON (global frame) -> LiDAR-frame predictions, and the errors on bad files."""
import json

import numpy as np
import pytest

from perception_kd.evaluation import lidar2global_of_info, predictions_to_results
from perception_kd.structures import limit_yaw
from perception_kd.visualization import Predictions, boxes_to_predictions, load_results
from perception_kd.visualization.results import noisy_gt_results


def write_results(path, results):
    path.write_text(json.dumps(dict(meta=dict(use_lidar=True), results=results)))
    return str(path)


def test_global_results_come_back_in_the_lidar_frame(vis_source, tmp_path):
    info = vis_source.info(1)
    boxes = np.asarray(info['ann_info']['gt_bboxes_3d'], dtype=np.float64)
    labels = info['ann_info']['gt_labels_3d']
    assert len(boxes) > 0
    scores = np.linspace(0.1, 0.9, len(boxes))
    token = info['token']
    path = write_results(tmp_path / 'r.json', {token: predictions_to_results(
        token, boxes, scores, labels, vis_source.classes, lidar2global_of_info(info))})
    results = load_results(path, vis_source.tokens, vis_source.ann_file)
    sample = vis_source.load(1)
    preds = boxes_to_predictions(results[token], sample.lidar2global, vis_source.classes, token)
    np.testing.assert_allclose(preds.boxes[:, :6], boxes[:, :6], atol=1e-5)
    np.testing.assert_allclose(limit_yaw(preds.boxes[:, 6] - boxes[:, 6]), 0, atol=1e-5)
    # Result files keep the global (vx, vy) only: the LiDAR's small tilt loses a few mm/s.
    np.testing.assert_allclose(preds.boxes[:, 7:9], boxes[:, 7:9], atol=0.02)
    np.testing.assert_array_equal(preds.labels, labels)
    assert len(preds.above(0.5)) == int((scores >= 0.5).sum())


def test_missing_results_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='results file .*nope.json not found'):
        load_results(str(tmp_path / 'nope.json'))


def test_unknown_sample_token_is_a_clear_error(vis_source, tmp_path):
    path = write_results(tmp_path / 'r.json', {vis_source.tokens[0]: [], 'a' * 32: []})
    expected = f'r.json has 1 sample token.*not in .*infos_val.pkl.*{"a" * 32}'
    with pytest.raises(KeyError, match=expected):
        load_results(path, vis_source.tokens, vis_source.ann_file)


def test_malformed_results_are_refused(vis_source, tmp_path):
    bad_json = tmp_path / 'bad.json'
    bad_json.write_text('{"results": ')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_results(str(bad_json))
    no_results = tmp_path / 'no_results.json'
    no_results.write_text('{"meta": {}}')
    with pytest.raises(ValueError, match='no "results"'):
        load_results(str(no_results))
    box = dict(translation=[0, 0, 0], size=[1, 1, 1], rotation=[1, 0, 0, 0],
               detection_name='unicorn', detection_score=0.5)
    with pytest.raises(ValueError, match='unicorn'):
        boxes_to_predictions([box], np.eye(4), vis_source.classes)
    assert len(boxes_to_predictions([], np.eye(4))) == 0 == len(Predictions.empty())


def test_noisy_ground_truth_results_cover_every_sample(vis_source):
    data = noisy_gt_results(vis_source, seed=1)
    assert sorted(data['results']) == sorted(vis_source.tokens)
    assert any(len(boxes) for boxes in data['results'].values())
    box = next(b for boxes in data['results'].values() for b in boxes)
    assert {'translation', 'size', 'rotation', 'detection_name', 'detection_score'} <= set(box)


def test_result_boxes_are_parsed_once_for_every_reader():
    """evaluation.nuscenes_format.parse_result_boxes serves the visualizer and the pseudo
    labels: every box is checked, unknown velocity is nan (0 for the pseudo labels)."""
    from perception_kd.evaluation.nuscenes_format import parse_result_boxes
    from perception_kd.ocf.pseudo import FrameDetections
    good = dict(translation=[1, 2, 3], size=[2, 4, 1.5], rotation=[1, 0, 0, 0],
                detection_name='car', detection_score=0.9)
    moving = dict(good, velocity=[1.0, -2.0], detection_score=0.4)
    gboxes, names, scores = parse_result_boxes([good, moving], 's0')
    assert gboxes.translation.shape == (2, 3) and list(names) == ['car', 'car']
    assert np.isnan(gboxes.velocity[0]).all() and gboxes.velocity[1].tolist() == [1.0, -2.0]
    assert scores.tolist() == [0.9, 0.4]
    preds = boxes_to_predictions([good, moving], np.eye(4), ['car'], 's0')
    assert np.isnan(preds.boxes[0, 7:9]).all()
    dets = FrameDetections.from_results([moving, good], 's0', 0.0, score_thr=0.5)
    assert len(dets) == 1 and dets.velocity.tolist() == [[0.0, 0.0]]
    # the second box is checked too, not only the first
    with pytest.raises(KeyError, match=r"box 1 of sample s0 has no \['size'\]"):
        boxes_to_predictions([good, {k: v for k, v in good.items() if k != 'size'}],
                             np.eye(4), ['car'], 's0')
    with pytest.raises(ValueError, match='malformed box'):
        parse_result_boxes([dict(good, translation=[1, 2])], 's0')
