"""Exact segment / 2D semantic maps of the synthetic generator against the LiDAR labels."""
import numpy as np
import pytest

from perception_kd.datasets.io import image_map_path, load_image_map
from perception_kd.structures import points_in_boxes, project_points_to_cameras


@pytest.fixture(scope='module')
def paired_samples(tiny_root, tiny_infos):
    """Keyframes of the tiny tree with their points, lidarseg labels, boxes and pairs."""
    from perception_kd.datasets import NuScenesDataset
    dataset = NuScenesDataset(
        tiny_root, tiny_infos['train'], modality=dict(use_lidar=True, use_camera=True),
        pipeline=[dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                  dict(type='LoadMultiViewImages')], test_mode=True)
    samples = []
    for idx in range(min(4, len(dataset))):
        results = dataset[idx]
        labels = np.fromfile(results['lidarseg_path'], dtype=np.uint8)
        assert len(labels) == len(results['points'])
        pairs = project_points_to_cameras(results['points'], results['lidar2img'],
                                          results['img_shape'])
        samples.append((results, labels, pairs))
    return samples


def _maps(tiny_root, results, folder):
    return [load_image_map(image_map_path(path, tiny_root, folder)) for path in
            results['img_path']]


def test_maps_are_written_per_image(tiny_root, paired_samples):
    results = paired_samples[0][0]
    for folder, dtype in (('superpixels/render', np.uint16), ('semantic2d', np.uint8)):
        for img, data in zip(results['img'], _maps(tiny_root, results, folder)):
            assert data.dtype == dtype and data.shape == img.shape[:2]
    for seg in _maps(tiny_root, results, 'superpixels/render'):
        ids = np.unique(seg)
        assert ids.max() == len(ids) - (ids[0] == 0) and len(ids) > 20   # 1..K, several
        # the sky (0) is above the ground: the top row is mostly sky or structures
        assert (seg[0] == 0).mean() > 0.2 or seg.min() > 0


def test_semantic2d_matches_lidarseg(tiny_root, paired_samples):
    agree, total = 0, 0
    for results, labels, pairs in paired_samples:
        sems = np.stack(_maps(tiny_root, results, 'semantic2d'))
        seen = sems[pairs.cam_index, pairs.row, pairs.col]
        agree += int((seen == labels[pairs.point_index]).sum())
        total += len(pairs)
    assert total > 1000
    assert agree / total > 0.9, agree / total


def test_render_segments_hold_objects(tiny_root, paired_samples):
    fractions = []
    for results, _labels, pairs in paired_samples:
        segs = np.stack(_maps(tiny_root, results, 'superpixels/render'))
        boxes = results['ann_info']['gt_bboxes_3d']
        inside = points_in_boxes(results['points'][:, :3], boxes[:, :7])   # (N, G)
        seg = segs[pairs.cam_index, pairs.row, pairs.col]
        for box in range(len(boxes)):
            for cam in np.unique(pairs.cam_index):
                sel = inside[pairs.point_index, box] & (pairs.cam_index == cam)
                if sel.sum() >= 10:
                    counts = np.bincount(seg[sel])
                    fractions.append(counts.max() / sel.sum())
                    assert counts.argmax() > 0        # not the sky
    assert len(fractions) >= 5
    assert np.median(fractions) > 0.9 and np.mean(fractions) > 0.8, fractions
