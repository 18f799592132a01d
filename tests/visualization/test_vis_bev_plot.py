"""BEV plot, heatmap grids and point colours."""
import numpy as np
import pytest

from perception_kd.structures import BEVGrid
from perception_kd.visualization import grid_for_heatmap, plot_bev, point_colors
from perception_kd.visualization.palette import UNLABELLED_POINT_COLOR, class_colors


def test_bev_plot_size_and_heatmap_placement(sample_factory):
    from perception_kd.visualization.bev_plot import AXES_BOX
    size, bev_range = 400, 20.0
    boxes = [[10.0, 5.0, -1.0, 4.0, 2.0, 1.5, 0.3, 0, 0]]
    plain = plot_bev(sample_factory(boxes=boxes), bev_range=bev_range, size_px=size)
    assert plain.shape == (size, size, 3) and plain.dtype == np.uint8
    assert (plain.max(-1) > 0).mean() > 0.05
    # One hot cell at x=-15, y=12 on a 1 m grid, no points: it is drawn where metres say.
    grid = BEVGrid(-20.0, -20.0, 20.0, 20.0, 1.0)
    heatmap = np.zeros(grid.shape)
    row, col = grid.cell_index(np.array([-15.0]), np.array([12.0]))
    heatmap[row, col] = 1.0
    empty = sample_factory(points=np.zeros((0, 5), np.float32))
    heat = plot_bev(empty, bev_range=bev_range, size_px=size, heatmap=heatmap, grid=grid)
    left, bottom, width, height = AXES_BOX
    top = np.array([252, 253, 191])                           # magma(1.0)
    plot_area = heat[:, :int(size * (left + width))]            # not the colour bar
    hot = np.argwhere(np.abs(plot_area.astype(int) - top).max(-1) < 8)
    x, y = grid.cell_centre(row[0], col[0])
    expected_col = size * (left + width * (x + bev_range) / (2 * bev_range))
    expected_row = size * (1 - bottom - height * (y + bev_range) / (2 * bev_range))
    assert len(hot) > 0
    assert abs(hot[:, 1].mean() - expected_col) < 2 and abs(hot[:, 0].mean() - expected_row) < 2


def test_heatmap_grid_checks():
    grid = grid_for_heatmap((128, 128), [-51.2, -51.2, -5, 51.2, 51.2, 3])
    assert grid.cell == pytest.approx(0.8) and grid.shape == (128, 128)
    with pytest.raises(ValueError, match='does not fit'):
        grid_for_heatmap((100, 128), [-51.2, -51.2, -5, 51.2, 51.2, 3])
    with pytest.raises(ValueError, match='2-D'):
        grid_for_heatmap((1, 128, 128), [-51.2, -51.2, -5, 51.2, 51.2, 3])


def test_heatmap_shape_must_match_its_grid(sample_factory):
    with pytest.raises(ValueError, match='differs from its grid'):
        plot_bev(sample_factory(), heatmap=np.zeros((10, 10)), grid=BEVGrid(0, 0, 20, 10, 1.0))


def test_point_colour_modes():
    points = np.array([[0, 0, -3, 0, 0.0], [0, 0, 2, 255, 0.5], [0, 0, 0, 10, 0.1]], np.float32)
    for mode in ('height', 'intensity', 'time'):
        colors = point_colors(points, mode)
        assert colors.shape == (3, 3) and 0 <= colors.min() and colors.max() <= 1
        assert not np.allclose(colors[0], colors[1])
    table = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    colors = point_colors(points, 'lidarseg', lidarseg=np.array([1, 0]), lidarseg_table=table)
    np.testing.assert_allclose(colors, [[0, 1, 0], [1, 0, 0], UNLABELLED_POINT_COLOR])  # sweep pt
    with pytest.raises(ValueError, match='lidarseg'):
        point_colors(points, 'lidarseg')
    with pytest.raises(ValueError, match='unknown point colour mode'):
        point_colors(points, 'rainbow')
    assert np.allclose(class_colors([99]), 1.0)                # unknown label: white


def test_lidarseg_labels_load_with_the_keyframe(vis_source):
    from perception_kd.visualization import lidarseg_colormap
    sample = vis_source.load(1, sweeps=2, lidarseg=True)
    assert sample.lidarseg is not None and len(sample.lidarseg) == sample.num_keyframe_points
    assert len(sample.points) > sample.num_keyframe_points               # sweeps appended
    table = lidarseg_colormap(vis_source.data_root, vis_source.version)
    assert table.shape[1] == 3 and len(table) > int(sample.lidarseg.max())
