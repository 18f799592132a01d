"""Open3D geometry of one sample: cloud, ground truth, predictions, OCF cloud, ego marker.

:func:`build_scene` returns a :class:`Scene` - named Open3D geometries with how to draw
them - that both the headless renderer (:mod:`.offscreen`) and the interactive window
(:mod:`.interactive`) consume. Ground truth and predictions share the class colours
(:mod:`.palette`); ground truth is solid, predictions dashed. Frame: keyframe LiDAR.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..constants import CLASSES
from ..structures import points_in_boxes
from .palette import EGO_COLOR, OCF_COLOR, class_colors, point_colors, present_classes
from .results import Predictions
from .sample import SampleData
from .wireframe import Wireframe, box_wireframe, dashed, ego_box, ego_forward

OCF_MODES = ('over', 'beside')


@dataclass
class SceneOptions:
    """What to draw and how.

    - point_color: ``height`` | ``intensity`` | ``lidarseg`` | ``time`` (:func:`point_colors`);
    - score_thr: predictions below it are hidden;
    - ocf: None, ``over`` (the OCF's points inside the ground-truth boxes - the completed
      objects - in magenta over the raw cloud) or ``beside`` (the OCF cloud and the boxes
      again, shifted along +x next to the raw scene);
    - bev_range: half-size (m) of the bird's-eye view; dash: dash length (m) of predictions;
    - voxel_size: draw one point per voxel of this size (m), or every point (None); 10
      sweeps hold ~3x more points than 0.1 m voxels, and rendering time is linear in points.
    """
    point_color: str = 'height'
    score_thr: float = 0.3
    show_gt: bool = True
    show_pred: bool = True
    ocf: str | None = None
    ego: bool = True
    bev_range: float = 54.0
    dash: float = 0.5
    height_range: tuple[float, float] = (-3.0, 2.0)
    point_size: float = 1.5
    line_width: float = 2.0
    voxel_size: float | None = None

    def __post_init__(self):
        if self.ocf is not None and self.ocf not in OCF_MODES:
            raise ValueError(f'ocf must be None or one of {OCF_MODES}, got {self.ocf!r}')

    @property
    def ocf_offset(self) -> float:
        """Shift (m, along +x) of the OCF copy in ``beside`` mode."""
        return 2.0 * self.bev_range + 4.0


@dataclass
class SceneItem:
    """One Open3D geometry: ``kind`` is ``points`` or ``lines``; ``size`` the point size or
    line width in pixels."""
    name: str
    geometry: object
    kind: str
    size: float


@dataclass
class Scene:
    """Geometries of one sample and the view they call for.

    extent: BEV bounds (x_min, x_max, y_min, y_max) in metres; forward: ego forward (3,)
    in the LiDAR frame (the chase camera looks along it); classes: the class names present.
    """
    items: list[SceneItem]
    extent: tuple[float, float, float, float]
    forward: np.ndarray
    classes: list[str] = field(default_factory=list)
    title: str = ''


def point_cloud(xyz: np.ndarray, colors: np.ndarray):
    """Open3D ``PointCloud`` of points (N, 3+) with RGB colours (N, 3) in [0, 1]."""
    import open3d as o3d
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
        np.ascontiguousarray(xyz[:, :3], dtype=np.float64)))
    cloud.colors = o3d.utility.Vector3dVector(np.ascontiguousarray(colors, dtype=np.float64))
    return cloud


def line_set(wire: Wireframe, line_colors: np.ndarray):
    """Open3D ``LineSet`` of a wireframe with one RGB colour (L, 3) per line."""
    import open3d as o3d
    lines = o3d.geometry.LineSet(
        o3d.utility.Vector3dVector(np.ascontiguousarray(wire.vertices, dtype=np.float64)),
        o3d.utility.Vector2iVector(np.ascontiguousarray(wire.lines, dtype=np.int32)))
    lines.colors = o3d.utility.Vector3dVector(np.ascontiguousarray(line_colors, dtype=np.float64))
    return lines


def boxes_line_set(boxes: np.ndarray, labels: np.ndarray, classes: Sequence[str] = CLASSES,
                   dash: float | None = None):
    """Open3D ``LineSet`` of boxes (N, 7+) coloured by class; ``dash`` (m) makes it dashed.

    Solid: box i's vertices are ``points[10*i:10*i+10]`` (8 corners in nuScenes' order,
    centre, front-face centre) and its lines ``lines[13*i:13*i+13]`` (12 edges, heading).
    """
    wire = box_wireframe(boxes)
    if dash is not None:
        wire = dashed(wire, dash)
    colors = class_colors(labels, classes)
    return line_set(wire, colors[wire.line_box] if len(wire) else np.zeros((0, 3)))


def voxel_subsample(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Indices of the first point (N, 3+) in each occupied voxel of ``voxel_size`` metres."""
    if voxel_size <= 0:
        raise ValueError(f'voxel_size must be > 0, got {voxel_size}')
    cells = np.floor(np.asarray(points[:, :3], dtype=np.float64) / voxel_size).astype(np.int64)
    cells -= cells.min(0) if len(cells) else 0
    dims = cells.max(0) + 1 if len(cells) else np.ones(3, dtype=np.int64)
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    return np.sort(np.unique(keys, return_index=True)[1])


def _shift(boxes: np.ndarray, dx: float) -> np.ndarray:
    out = np.array(boxes, dtype=np.float64, copy=True)
    out[:, 0] += dx
    return out


def build_scene(sample: SampleData, predictions: Predictions | None = None,
                options: SceneOptions | None = None,
                lidarseg_table: np.ndarray | None = None) -> Scene:
    """Open3D geometries of a sample (see the module doc); ``predictions`` in its LiDAR frame."""
    opts = options or SceneOptions()
    classes = list(sample.classes)
    preds = (predictions or Predictions.empty()).above(opts.score_thr) if opts.show_pred \
        else Predictions.empty()
    gt_labels = sample.gt_labels if opts.show_gt else np.zeros(0, dtype=np.int64)
    gt_boxes = sample.gt_boxes if opts.show_gt else np.zeros((0, 9))

    points = sample.points
    colors = point_colors(points, opts.point_color, lidarseg=sample.lidarseg,
                          lidarseg_table=lidarseg_table, height_range=opts.height_range)
    if opts.voxel_size:
        keep = voxel_subsample(points, opts.voxel_size)
        points, colors = points[keep], colors[keep]
    items = [SceneItem('points', point_cloud(points, colors), 'points', opts.point_size)]
    offsets = [0.0]
    ocf = sample.ocf_points if opts.ocf else None
    if ocf is not None and opts.voxel_size:
        ocf = ocf[voxel_subsample(ocf, opts.voxel_size)]
    if ocf is not None and opts.ocf == 'over':
        # Outside the boxes an OCF equals the raw frame: overlay only the objects' points.
        ocf = ocf[points_in_boxes(ocf, sample.gt_boxes).any(1)] if len(sample.gt_boxes) \
            else ocf[:0]
        if len(ocf):
            items.append(SceneItem('ocf', point_cloud(ocf, np.tile(OCF_COLOR, (len(ocf), 1))),
                                   'points', opts.point_size))
    elif ocf is not None:
        dx = opts.ocf_offset
        offsets.append(dx)
        ocf_colors = point_colors(ocf, opts.point_color if opts.point_color != 'lidarseg'
                                  else 'height', height_range=opts.height_range)
        items.append(SceneItem('ocf', point_cloud(_shift(ocf, dx), ocf_colors), 'points',
                               opts.point_size))
    for k, dx in enumerate(offsets):
        suffix = '' if k == 0 else '_ocf'
        if len(gt_boxes):
            gt_lines = boxes_line_set(_shift(gt_boxes, dx), gt_labels, classes)
            items.append(SceneItem('gt' + suffix, gt_lines, 'lines', opts.line_width))
        if len(preds):
            items.append(SceneItem('pred' + suffix, boxes_line_set(
                _shift(preds.boxes, dx), preds.labels, classes, dash=opts.dash), 'lines',
                max(opts.line_width - 0.5, 1.0)))
        if opts.ego:
            ego = box_wireframe(_shift(ego_box(sample.lidar2ego), dx))
            items.append(SceneItem('ego' + suffix, line_set(ego, np.tile(EGO_COLOR, (len(ego), 1))),
                                   'lines', opts.line_width))
    r = opts.bev_range
    return Scene(items=items, extent=(-r, r + offsets[-1], -r, r),
                 forward=ego_forward(sample.lidar2ego),
                 classes=present_classes(classes, gt_labels, preds.labels),
                 title=f'#{sample.index} {sample.token[:8]}')
