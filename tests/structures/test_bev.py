"""The BEV grid convention: metres <-> cells."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from perception_kd.structures import BEVGrid

settings.register_profile('pkd', deadline=None, max_examples=60)
settings.load_profile('pkd')

GRID = BEVGrid.from_range([-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 0.8)
# (x - x_min) / cell rounds up to W for x within a few ulps below x_max, so stay 1e-6 inside
inside = st.floats(-51.2, 51.2 - 1e-6, allow_nan=False)


def test_shape_and_known_cell():
    assert GRID.shape == (128, 128) and GRID.height == 128 and GRID.width == 128
    # x along columns, y along rows
    row, col = GRID.cell_index(np.array([0.1]), np.array([-51.0]))
    assert (int(row[0]), int(col[0])) == (0, 64)
    np.testing.assert_allclose(GRID.cell_centre(0, 64), (0.4, -50.8))
    np.testing.assert_allclose(GRID.to_grid_sample(-51.2, -51.2), (-1.0, -1.0))
    np.testing.assert_allclose(GRID.to_grid_sample(51.2, 51.2), (1.0, 1.0))


def test_non_square_grid():
    grid = BEVGrid(x_min=0.0, y_min=-10.0, x_max=40.0, y_max=10.0, cell=0.5)
    assert grid.shape == (40, 80)  # H along y, W along x
    row, col = grid.cell_index(np.array([39.9]), np.array([-9.9]))
    assert (int(row[0]), int(col[0])) == (0, 79)


@given(inside, inside)
def test_metres_cells_round_trip(x, y):
    u, v = GRID.metres_to_cells(x, y)
    back = GRID.cells_to_metres(u, v)
    assert back == pytest.approx((x, y), abs=1e-9)
    row, col = GRID.cell_index(np.array([x]), np.array([y]))
    row, col = int(row[0]), int(col[0])
    assert 0 <= row < GRID.height and 0 <= col < GRID.width
    cx, cy = GRID.cell_centre(row, col)
    # the point lies in the cell whose centre is within half a cell
    assert abs(cx - x) <= GRID.cell / 2 + 1e-9 and abs(cy - y) <= GRID.cell / 2 + 1e-9


@given(inside, inside)
def test_grid_sample_matches_cell_centres(x, y):
    """grid_sample(align_corners=False) reads the cell containing the point."""
    row, col = GRID.cell_index(np.array([x]), np.array([y]))
    cx, cy = GRID.cell_centre(int(row[0]), int(col[0]))
    gx, gy = GRID.to_grid_sample(cx, cy)
    feat = torch.zeros(1, 1, GRID.height, GRID.width)
    feat[0, 0, int(row[0]), int(col[0])] = 1.0
    grid = torch.tensor([[[[gx, gy]]]], dtype=torch.float32)
    value = torch.nn.functional.grid_sample(feat, grid, align_corners=False)
    assert value.item() == pytest.approx(1.0, abs=1e-4)


def test_torch_cell_index_and_errors():
    row, col = GRID.cell_index(torch.tensor([0.1]), torch.tensor([-51.0]))
    assert row.dtype == torch.long and (row.item(), col.item()) == (0, 64)
    with pytest.raises(ValueError):
        BEVGrid.from_range([0, 0, 1, 1], 0.1)
    with pytest.raises(ValueError):
        BEVGrid(0, 0, 1, 1, cell=0.0)


def test_cell_index_just_below_the_upper_edge():
    import numpy as np

    from perception_kd.structures import BEVGrid
    grid = BEVGrid(-51.2, -51.2, 51.2, 51.2, 0.8)
    x = np.nextafter(51.2, 0.0)
    row, col = grid.cell_index(np.array([x]), np.array([x]))
    assert row[0] == grid.height - 1 and col[0] == grid.width - 1
    row, col = grid.cell_index(np.array([51.2]), np.array([-51.2]))
    assert col[0] == grid.width and row[0] == 0       # x_max itself is outside
