"""Colours: one palette per detection class, and per-point colours of a LiDAR cloud.

All colours are RGB floats in [0, 1]. The same class colour is used for ground truth and
predictions everywhere (Open3D, camera mosaic, BEV plot); ground truth is drawn with solid
lines, predictions with dashed ones.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence

import numpy as np

from ..constants import CLASSES, TIME_DIM

POINT_COLOR_MODES = ('height', 'intensity', 'lidarseg', 'time')

# Bright, mutually distinct colours that read on black (Open3D, BEV plot) and on photos.
CLASS_COLORS: dict[str, tuple[float, float, float]] = {
    'car': (1.00, 0.62, 0.00),                   # orange
    'truck': (1.00, 0.25, 0.25),                 # red
    'trailer': (0.85, 0.45, 1.00),               # violet
    'bus': (1.00, 0.95, 0.20),                   # yellow
    'construction_vehicle': (0.70, 0.50, 0.25),  # brown
    'bicycle': (0.30, 1.00, 0.30),               # green
    'motorcycle': (0.00, 0.85, 0.70),            # teal
    'pedestrian': (0.25, 0.60, 1.00),            # blue
    'traffic_cone': (1.00, 0.40, 0.80),          # pink
    'barrier': (0.75, 0.75, 0.75),               # light grey
}
UNKNOWN_CLASS_COLOR = (1.0, 1.0, 1.0)
EGO_COLOR = (0.0, 1.0, 1.0)             # cyan
OCF_COLOR = (1.0, 0.2, 1.0)             # magenta: OCF points drawn over the raw cloud
UNLABELLED_POINT_COLOR = (0.35, 0.35, 0.35)


def class_colors(labels: np.ndarray, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Colours (N, 3) of integer labels indexing ``classes``; out-of-range labels are white."""
    table = np.array([CLASS_COLORS.get(name, UNKNOWN_CLASS_COLOR) for name in classes]
                     + [UNKNOWN_CLASS_COLOR], dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    labels = np.where((labels >= 0) & (labels < len(classes)), labels, len(classes))
    return table[labels]


def present_classes(classes: Sequence[str], *label_arrays: np.ndarray) -> list:
    """Names of the classes that occur in any of the label arrays, in class order."""
    labels = set()
    for array in label_arrays:
        labels.update(np.asarray(array, dtype=np.int64).reshape(-1).tolist())
    return [name for i, name in enumerate(classes) if i in labels]


def scalar_colors(values: np.ndarray, vmin: float, vmax: float,
                  cmap: str = 'viridis') -> np.ndarray:
    """Values (N,) -> RGB (N, 3) through a matplotlib colormap over ``[vmin, vmax]`` (clipped)."""
    from matplotlib import colormaps
    span = max(vmax - vmin, 1e-6)
    normed = np.clip((np.asarray(values, dtype=np.float64) - vmin) / span, 0.0, 1.0)
    return colormaps[cmap](normed)[:, :3]


def lidarseg_colormap(data_root: str | None = None,
                      version: str | None = None) -> np.ndarray:
    """(K, 3) RGB colours of the lidarseg class indices, from the devkit's colormap.

    Index -> class name comes from ``<data_root>/<version>/category.json`` (its ``index``
    field) when present; otherwise the devkit's standard order (that of
    ``nuscenes.utils.color_map.get_colormap``, which matches nuScenes' lidarseg indices).
    """
    from nuscenes.utils.color_map import get_colormap
    colormap = get_colormap()
    names = list(colormap)
    path = osp.join(data_root, version, 'category.json') if data_root and version else None
    if path and osp.isfile(path):
        with open(path) as f:
            categories = [c for c in json.load(f) if 'index' in c]
        if categories:
            names = [''] * (max(c['index'] for c in categories) + 1)
            for cat in categories:
                names[cat['index']] = cat['name']
    table = np.array([colormap.get(name, (0, 0, 0)) for name in names], dtype=np.float64) / 255.0
    return table


def point_colors(points: np.ndarray, mode: str = 'height', *,
                 lidarseg: np.ndarray | None = None,
                 lidarseg_table: np.ndarray | None = None,
                 height_range: tuple[float, float] = (-3.0, 2.0),
                 time_range: tuple[float, float] = (0.0, 0.5)) -> np.ndarray:
    """Per-point RGB (N, 3) for a cloud (N, 3+) in the LiDAR frame.

    Modes: ``height`` (z over ``height_range``, turbo), ``intensity`` (column 3, log-scaled
    over the cloud's 99th percentile, inferno), ``lidarseg`` (class colours of
    ``lidarseg`` labels (K,) for the first K points - the keyframe's; later points, i.e.
    sweeps, are grey), ``time`` (column 4, the sweep time lag in seconds, viridis).
    """
    points = np.asarray(points)
    if mode == 'height':
        return scalar_colors(points[:, 2], *height_range, cmap='turbo')
    if mode == 'intensity':
        if points.shape[1] < 4:
            raise ValueError('intensity colouring needs points with >= 4 columns, got '
                             f'{points.shape}')
        values = np.log1p(np.maximum(points[:, 3], 0))
        top = float(np.percentile(values, 99)) if len(values) else 1.0
        return scalar_colors(values, 0.0, max(top, 1e-3), cmap='inferno')
    if mode == 'time':
        if points.shape[1] <= TIME_DIM:
            raise ValueError(f'time colouring needs points with a time-lag column {TIME_DIM}, got '
                             f'{points.shape}')
        return scalar_colors(points[:, TIME_DIM], *time_range, cmap='viridis')
    if mode == 'lidarseg':
        if lidarseg is None:
            raise ValueError('lidarseg colouring needs the labels; the sample has no lidarseg_path '
                             '(info key) or it was not loaded')
        table = lidarseg_table if lidarseg_table is not None else lidarseg_colormap()
        labels = np.asarray(lidarseg, dtype=np.int64)
        if len(labels) > len(points):
            raise ValueError(f'{len(labels)} lidarseg labels for a cloud of {len(points)} points')
        colors = np.tile(np.asarray(UNLABELLED_POINT_COLOR), (len(points), 1))
        known = labels < len(table)
        colors[:len(labels)][known] = table[labels[known]]
        return colors
    raise ValueError(f'unknown point colour mode {mode!r}; choose one of {POINT_COLOR_MODES}')
