"""Bird's-eye-view plot with matplotlib: points, boxes, ego and an optional BEV heatmap.

Axes are the keyframe LiDAR frame's: +x to the right, +y up, in metres - the
:class:`~perception_kd.structures.BEVGrid` convention, so a model's (H, W) BEV response
(row i along +y, column j along +x) is drawn with ``origin='lower'`` over the grid's extent.
Uses matplotlib's object API (no pyplot state); returns an RGB array.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..structures import BEVGrid, bev_corners
from .palette import CLASS_COLORS, EGO_COLOR, class_colors, point_colors, present_classes
from .results import Predictions
from .sample import SampleData
from .wireframe import ego_box

# The plot area in figure fractions (left, bottom, width, height): square, with room on the
# right for the heatmap's colour bar, so the metres -> pixels mapping never changes.
AXES_BOX = (0.08, 0.07, 0.84, 0.84)


def grid_for_heatmap(shape: tuple[int, int], point_cloud_range: Sequence[float]) -> BEVGrid:
    """The BEV grid of an (H, W) map over ``point_cloud_range`` (cell size from W, checked on H)."""
    if len(shape) != 2:
        raise ValueError(f'a BEV heatmap must be 2-D (H, W), got shape {tuple(shape)}')
    height, width = shape
    x0, y0, _, x1, y1, _ = point_cloud_range
    grid = BEVGrid.from_range(point_cloud_range, (x1 - x0) / width)
    if grid.shape != (height, width):
        raise ValueError(f'heatmap of shape (H, W)={tuple(shape)} does not fit the range '
                         f'{list(point_cloud_range)} with square cells: W gives cell '
                         f'{grid.cell:.4g} m and then H={grid.height}; pass the grid explicitly')
    return grid


def rasterize_points(xy: np.ndarray, colors: np.ndarray, bev_range: float,
                     pixels: int) -> np.ndarray:
    """Points (N, 2) with RGB (N, 3) -> RGBA image (pixels, pixels, 4) over
    [-bev_range, bev_range]^2, row 0 at y = -bev_range (``imshow(origin='lower')``).

    One pixel per point, the last point of a pixel wins (callers order points, e.g. by
    height); empty pixels are transparent. Much faster than a scatter of 10-sweep clouds.
    """
    image = np.zeros((pixels, pixels, 4), dtype=np.float32)
    cell = 2.0 * bev_range / pixels
    col = np.floor((xy[:, 0] + bev_range) / cell).astype(np.int64)
    row = np.floor((xy[:, 1] + bev_range) / cell).astype(np.int64)
    inside = (col >= 0) & (col < pixels) & (row >= 0) & (row < pixels)
    image[row[inside], col[inside], :3] = colors[inside]
    image[row[inside], col[inside], 3] = 1.0
    return image


def _box_segments(boxes: np.ndarray) -> np.ndarray:
    """BEV outline (4 edges) and heading mark (centre -> front edge centre): (N, 5, 2, 2)."""
    corners = bev_corners(boxes)                                        # (N, 4, 2) FL, RL, RR, FR
    edges = np.stack([corners, np.roll(corners, -1, axis=1)], 2)        # (N, 4, 2, 2)
    heading = np.stack([boxes[:, :2], (corners[:, 0] + corners[:, 3]) / 2], 1)[:, None]
    return np.concatenate([edges, heading], 1)


def plot_bev(sample: SampleData, predictions: Predictions | None = None, *,
             score_thr: float = 0.3, show_gt: bool = True, point_color: str = 'height',
             bev_range: float = 54.0, heatmap: np.ndarray | None = None,
             grid: BEVGrid | None = None, heatmap_cmap: str = 'magma',
             size_px: int = 1000, dpi: int = 100, height_range: tuple[float, float] = (-3.0, 2.0),
             lidarseg_table: np.ndarray | None = None) -> np.ndarray:
    """Draw the sample from above -> (size_px, size_px, 3) uint8 RGB.

    heatmap: optional (H, W) array on ``grid`` (e.g. a head's class-max response) drawn
    under the points; predictions below ``score_thr`` are hidden.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi, facecolor='black')
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes(AXES_BOX, facecolor='black')
    classes = list(sample.classes)
    if heatmap is not None:
        heatmap = np.asarray(heatmap, dtype=np.float64)
        if grid is None:
            raise ValueError('a heatmap needs its BEVGrid (grid=...) to be placed in metres')
        if heatmap.shape != grid.shape:
            raise ValueError(f'heatmap shape {heatmap.shape} differs from its grid (H, W) '
                             f'{grid.shape}')
        image = ax.imshow(heatmap, origin='lower', cmap=heatmap_cmap, interpolation='nearest',
                          extent=(grid.x_min, grid.x_max, grid.y_min, grid.y_max), zorder=0)
        left, bottom, width, height = AXES_BOX
        bar = fig.colorbar(image, cax=fig.add_axes((left + width + 0.015, bottom, 0.015, height)))
        bar.ax.tick_params(colors='white', labelsize=7)

    pts = sample.points
    colors = point_colors(pts, point_color, lidarseg=sample.lidarseg,
                          lidarseg_table=lidarseg_table, height_range=height_range)
    order = np.argsort(pts[:, 2], kind='stable')              # higher points on top
    layer = rasterize_points(pts[order, :2], colors[order], bev_range,
                             int(round(size_px * AXES_BOX[2])))
    if heatmap is not None:
        layer[..., 3] *= 0.6
    ax.imshow(layer, origin='lower', extent=(-bev_range, bev_range, -bev_range, bev_range),
              interpolation='nearest', zorder=1)

    preds = (predictions or Predictions.empty()).above(score_thr)
    drawn = [(sample.gt_boxes, sample.gt_labels, '-', 1.4)] if show_gt else []
    drawn.append((preds.boxes, preds.labels, (0, (3, 2)), 1.1))
    for boxes, labels, style, width in drawn:
        if len(boxes):
            segments = _box_segments(boxes)
            seg_colors = np.repeat(class_colors(labels, classes), segments.shape[1], 0)
            ax.add_collection(LineCollection(segments.reshape(-1, 2, 2), colors=seg_colors,
                                             linestyles=style, linewidths=width, zorder=3))
    ego = bev_corners(ego_box(sample.lidar2ego))[0]
    ax.add_patch(Polygon(ego, closed=True, facecolor=EGO_COLOR, edgecolor='white', alpha=0.8,
                         zorder=4))

    ax.set_xlim(-bev_range, bev_range)
    ax.set_ylim(-bev_range, bev_range)
    ax.set_aspect('equal')
    ax.set_xlabel('x (m, LiDAR frame)', color='white')
    ax.set_ylabel('y (m)', color='white')
    ax.tick_params(colors='white', labelsize=8)
    for spine in ax.spines.values():
        spine.set_color('0.5')
    ax.set_title(f'sample #{sample.index} {sample.token}', color='white', fontsize=10)
    handles = [Line2D([], [], color='white', linestyle='-', label='ground truth'),
               Line2D([], [], color='white', linestyle=(0, (3, 2)), label='prediction')]
    shown_gt = sample.gt_labels if show_gt else []
    handles += [Line2D([], [], color=CLASS_COLORS.get(name, (1, 1, 1)), linewidth=3, label=name)
                for name in present_classes(classes, shown_gt, preds.labels)]
    legend = ax.legend(handles=handles, loc='upper right', fontsize=7, facecolor='black',
                       edgecolor='0.5', framealpha=0.7)
    for text in legend.get_texts():
        text.set_color('white')
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
