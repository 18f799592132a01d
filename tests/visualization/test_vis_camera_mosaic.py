"""Projected boxes land in the camera that sees them; boxes behind a camera are clipped."""
import numpy as np
import pytest

from perception_kd.structures import invert
from perception_kd.visualization import box_wireframe, camera_mosaic, project_segments
from perception_kd.visualization.camera_mosaic import MOSAIC_LAYOUT, clip_segments


def box_seen_by(sample, camera: str, depth: float) -> np.ndarray:
    """A car-sized box ``depth`` metres along the optical axis of ``camera`` (LiDAR frame)."""
    cam2lidar = invert(sample.cameras[camera].lidar2cam)
    centre = cam2lidar[:3, :3] @ [0.0, 0.0, depth] + cam2lidar[:3, 3]
    return np.array([[*centre, 4.0, 2.0, 1.5, 0.4, 0.0, 0.0]])


def visible_lines(sample, boxes):
    wire = box_wireframe(boxes)
    return {name: len(project_segments(wire.segments, cam)[2])
            for name, cam in sample.cameras.items()}


def test_box_projects_only_into_the_camera_that_sees_it(vis_source):
    sample = vis_source.load(0)
    assert len(sample.cameras) == 6
    for camera in ('CAM_FRONT', 'CAM_BACK_LEFT'):
        counts = visible_lines(sample, box_seen_by(sample, camera, 12.0))
        assert counts[camera] == 13, counts                    # the whole box is in view
        assert all(n == 0 for name, n in counts.items() if name != camera), counts


def test_box_behind_a_camera_is_clipped_away(vis_source):
    sample = vis_source.load(0)
    counts = visible_lines(sample, box_seen_by(sample, 'CAM_FRONT', -12.0))
    assert counts['CAM_FRONT'] == 0 and counts['CAM_BACK'] == 13, counts


def test_clip_segments_to_the_near_plane():
    p0 = np.array([[0.0, 0.0, -5.0], [1.0, 1.0, -2.0], [0.0, 0.0, 2.0]])
    p1 = np.array([[0.0, 2.0, 5.0], [1.0, 1.0, -1.0], [0.0, 0.0, 4.0]])
    q0, q1, keep = clip_segments(p0, p1, [-np.inf, -np.inf, 0.1], [np.inf, np.inf, np.inf])
    assert keep.tolist() == [0, 2]
    np.testing.assert_allclose(q0[0], [0.0, 1.02, 0.1])
    np.testing.assert_allclose(q1[0], p1[0])
    np.testing.assert_allclose(np.stack([q0[1], q1[1]]), np.stack([p0[2], p1[2]]))


def test_mosaic_draws_the_box_in_the_right_tile(vis_source):
    sample = vis_source.load(0)
    sample.gt_boxes = np.zeros((0, 9))
    sample.gt_labels = np.zeros(0, dtype=np.int64)
    empty = camera_mosaic(sample, scale=0.5, legend=False)
    tile_h, tile_w = empty.shape[0] // 2, empty.shape[1] // 3
    assert (tile_h, tile_w) == (90, 160)                       # 320x180 images at half size
    sample.gt_boxes = box_seen_by(sample, 'CAM_FRONT', 12.0)
    sample.gt_labels = np.array([0])
    drawn = camera_mosaic(sample, scale=0.5, legend=False)
    rows, cols = np.nonzero(np.any(drawn != empty, axis=-1))
    assert len(rows) > 100
    tiles = set(zip((rows // tile_h).tolist(), (cols // tile_w).tolist()))
    r, c = next((r, c) for r, row in enumerate(MOSAIC_LAYOUT) for c, name in enumerate(row)
                if name == 'CAM_FRONT')
    assert tiles == {(r, c)}


def test_mosaic_with_legend_and_missing_images(vis_source, tmp_path):
    sample = vis_source.load(0)
    mosaic = camera_mosaic(sample, scale=0.25)
    assert mosaic.shape[1] == 3 * 80 and mosaic.shape[0] > 2 * 45    # legend strip below
    sample.cameras['CAM_BACK'].img_path = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        camera_mosaic(sample)
