"""Fixtures of the visualisation tests: the tiny dataset as a SampleSource, hand-made samples."""
import numpy as np
import pytest


@pytest.fixture(scope='session')
def vis_source(tiny_root, tiny_infos):
    """SampleSource over the tiny tree's val infos (scene-0103, 4 keyframes, 320x180 images)."""
    from perception_kd.visualization import SampleSource
    return SampleSource.from_info_file(tiny_infos['val'], tiny_root)


def make_sample(points=None, boxes=None, labels=None, **kwargs):
    """A hand-made SampleData in a LiDAR frame that equals the ego frame (no cameras)."""
    from perception_kd.visualization import SampleData
    if points is None:
        grid = np.stack(np.meshgrid(np.linspace(-20, 20, 41), np.linspace(-20, 20, 41)), -1)
        points = np.concatenate([grid.reshape(-1, 2), np.full((41 * 41, 1), -1.8),
                                 np.zeros((41 * 41, 2))], 1).astype(np.float32)
    boxes = np.zeros((0, 9)) if boxes is None else np.asarray(boxes, dtype=np.float64)
    labels = np.zeros(len(boxes), dtype=np.int64) if labels is None else np.asarray(labels)
    values = dict(index=0, token='f' * 32, scene_token='s' * 32, timestamp=0.0, points=points,
                  num_keyframe_points=len(points), gt_boxes=boxes, gt_labels=labels,
                  lidar2ego=np.eye(4), ego2global=np.eye(4))
    values.update(kwargs)
    return SampleData(**values)


@pytest.fixture
def sample_factory():
    """``make_sample(points=None, boxes=None, labels=None, **fields)`` -> SampleData."""
    return make_sample
