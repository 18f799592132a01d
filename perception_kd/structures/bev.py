"""The BEV grid convention, written once.

BEV tensors are (B, C, H, W): W runs along +x, H along +y; cell (row=i, col=j) covers
x in [x_min + j*cell, x_min + (j+1)*cell) and y in [y_min + i*cell, y_min + (i+1)*cell).
Continuous cell coordinates (u, v) = ((x - x_min)/cell, (y - y_min)/cell): cell (i, j)
spans u in [j, j+1), v in [i, i+1); its centre is (j + 0.5, i + 0.5).
Every module mapping metres to cells goes through :class:`BEVGrid`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BEVGrid:
    """A BEV grid over ``[x_min, x_max) x [y_min, y_max)`` with square cells of ``cell`` metres."""
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    cell: float

    @classmethod
    def from_range(cls, point_cloud_range: Sequence[float], cell: float) -> BEVGrid:
        """From an mmdet3d-style range ``(x_min, y_min, z_min, x_max, y_max, z_max)``."""
        if len(point_cloud_range) != 6:
            raise ValueError(
                'point_cloud_range must be (x_min, y_min, z_min, x_max, y_max, z_max), '
                f'got {point_cloud_range}'
            )
        x0, y0, _, x1, y1, _ = point_cloud_range
        return cls(float(x0), float(y0), float(x1), float(y1), float(cell))

    def __post_init__(self):
        if self.cell <= 0 or self.x_max <= self.x_min or self.y_max <= self.y_min:
            raise ValueError(f'invalid BEV grid {self}')

    @property
    def width(self) -> int:
        """Number of columns (along +x)."""
        return int(round((self.x_max - self.x_min) / self.cell))

    @property
    def height(self) -> int:
        """Number of rows (along +y)."""
        return int(round((self.y_max - self.y_min) / self.cell))

    @property
    def shape(self) -> tuple:
        """(H, W)."""
        return self.height, self.width

    def metres_to_cells(self, x, y):
        """Metres -> continuous cell coordinates (u along columns/+x, v along rows/+y)."""
        return (x - self.x_min) / self.cell, (y - self.y_min) / self.cell

    def cells_to_metres(self, u, v):
        """Continuous cell coordinates -> metres (inverse of :meth:`metres_to_cells`)."""
        return u * self.cell + self.x_min, v * self.cell + self.y_min

    def cell_index(self, x, y):
        """Integer (row, col) of the cell containing (x, y) (floor); may be out of the grid.

        A coordinate just below ``x_max`` / ``y_max`` whose division rounds up to the grid
        size still maps to the last cell.
        """
        u, v = self.metres_to_cells(x, y)
        row, col = _floor(v), _floor(u)
        row = _where((row == self.height) & (y < self.y_max), self.height - 1, row)
        col = _where((col == self.width) & (x < self.x_max), self.width - 1, col)
        return row, col

    def cell_centre(self, row, col):
        """Centre (x, y) in metres of cell (row, col)."""
        return self.cells_to_metres(col + 0.5, row + 0.5)

    def to_grid_sample(self, x, y):
        """Metres -> normalised coordinates for ``F.grid_sample(..., align_corners=False)``.

        Returns (gx, gy) in [-1, 1] over the grid extent: gx indexes W (x), gy indexes H (y).
        """
        u, v = self.metres_to_cells(x, y)
        return 2.0 * u / self.width - 1.0, 2.0 * v / self.height - 1.0


def _where(cond, a, b):
    if hasattr(b, 'floor'):
        import torch
        return torch.where(cond, torch.as_tensor(a, dtype=b.dtype, device=b.device), b)
    import numpy as np
    return np.where(cond, a, b)


def _floor(value):
    if hasattr(value, 'floor'):
        return value.floor().long()
    import numpy as np
    return np.floor(value).astype(np.int64)
