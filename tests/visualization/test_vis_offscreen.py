"""Headless Open3D rendering: image size, content, and where a box shows up."""
import numpy as np
import pytest

from perception_kd.visualization import SceneOptions, build_scene, save_png
from perception_kd.visualization.offscreen import OffscreenRenderer

W, H = 320, 240
BOX = [10.0, 5.0, -1.0, 4.0, 2.0, 1.5, 0.3, 0.0, 0.0]


@pytest.fixture(scope='module')
def renderer():
    with OffscreenRenderer(W, H) as r:
        yield r


def test_png_has_the_requested_size_and_content(renderer, sample_factory, tmp_path):
    import cv2
    scene = build_scene(sample_factory(boxes=[BOX]), options=SceneOptions(bev_range=20.0))
    for view in ('bev', 'chase'):
        image = renderer.render(scene, view)
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert (image.max(-1) > 0).mean() > 0.01, f'{view} view is empty'
        path = save_png(image, str(tmp_path / f'{view}.png'))
        assert cv2.imread(path).shape == (H, W, 3)


def test_pixels_change_where_the_box_is_drawn(renderer, sample_factory):
    opts = SceneOptions(bev_range=20.0)
    empty = renderer.render(build_scene(sample_factory(), options=opts), 'bev')
    with_box = renderer.render(build_scene(sample_factory(boxes=[BOX], labels=[0]),
                                           options=opts), 'bev')
    changed = np.nonzero(np.any(empty != with_box, axis=-1))
    assert len(changed[0]) > 50
    # BEV: +x right, +y up, 40 m over H pixels at the ground, centred on the LiDAR.
    scale = (H / 2) / 20.0
    col, row = W / 2 + BOX[0] * scale, H / 2 - BOX[1] * scale
    radius = np.hypot(BOX[3], BOX[4]) / 2 * scale + 4
    assert np.all(np.abs(changed[0] - row) <= radius) and np.all(np.abs(changed[1] - col) <= radius)
    # The new pixels are the car colour (orange), predictions would be the same but dashed.
    colors = with_box[changed]
    assert np.median(colors[:, 0]) > 200 and np.median(colors[:, 2]) < 60


def test_predictions_are_dashed_and_thresholded(renderer, sample_factory):
    from perception_kd.visualization import Predictions
    opts = SceneOptions(bev_range=20.0, score_thr=0.5)
    sample = sample_factory()
    gt = renderer.render(build_scene(sample_factory(boxes=[BOX], labels=[0]), options=opts), 'bev')
    strong = Predictions(np.array([BOX]), np.array([0.9]), np.array([0]))
    weak = Predictions(np.array([BOX]), np.array([0.2]), np.array([0]))
    empty = renderer.render(build_scene(sample, options=opts), 'bev')
    pred = renderer.render(build_scene(sample, strong, opts), 'bev')
    hidden = renderer.render(build_scene(sample, weak, opts), 'bev')
    assert np.array_equal(hidden, empty)
    drawn = lambda image: np.any(image != empty, axis=-1).sum()   # noqa: E731
    assert 0 < drawn(pred) < drawn(gt)                            # dashes: fewer pixels


def test_ocf_beside_widens_the_view(renderer, sample_factory):
    sample = sample_factory(boxes=[BOX])
    inside = np.array([[BOX[0], BOX[1], BOX[2], 0, 0], [BOX[0] + 0.5, BOX[1], BOX[2], 0, 0]])
    sample.ocf_points = np.concatenate([sample.points, inside.astype(np.float32)])
    beside = build_scene(sample, options=SceneOptions(bev_range=20.0, ocf='beside'))
    over = build_scene(sample, options=SceneOptions(bev_range=20.0, ocf='over'))
    assert beside.extent[1] > over.extent[1] == 20.0
    assert {'ocf', 'gt_ocf'} <= {item.name for item in beside.items}
    over_ocf = next(item.geometry for item in over.items if item.name == 'ocf')
    assert len(over_ocf.points) == 2                          # only the objects' points
    assert renderer.render(beside, 'bev').shape == (H, W, 3)
    with pytest.raises(ValueError, match='ocf'):
        SceneOptions(ocf='under')


def test_voxel_subsample_keeps_one_point_per_voxel():
    from perception_kd.visualization.scene import voxel_subsample
    points = np.array([[0.01, 0.01, 0.0], [0.05, 0.02, 0.0], [0.15, 0.0, 0.0], [-0.05, 0, 0]])
    assert voxel_subsample(points, 0.1).tolist() == [0, 2, 3]
