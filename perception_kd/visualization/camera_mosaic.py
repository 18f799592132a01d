"""The six camera images of a sample with the 3D boxes projected into them, as one mosaic.

Boxes go LiDAR -> camera through each camera's ``lidar2cam`` and are projected with its
``cam2img``; every box line is first clipped to the part in front of the camera
(z >= ``near``), so boxes behind or beside a camera never wrap around into its image,
then to the image rectangle. Ground truth is drawn solid, predictions dashed (dashes in
pixels), both in the class colours of :mod:`.palette`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .overlay import draw_label, legend_bar
from .palette import class_colors, present_classes
from .results import Predictions
from .sample import CameraView, SampleData
from .wireframe import box_wireframe, dash_segments

# nuScenes' usual mosaic: front cameras on top, back cameras below, left to right.
MOSAIC_LAYOUT = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
                 ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))


def clip_segments(p0: np.ndarray, p1: np.ndarray, lower: Sequence[float],
                  upper: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip segments p0 -> p1 (L, D) to the axis-aligned box [lower, upper] (Liang-Barsky).

    Bounds may be +-inf. Returns the clipped (q0, q1) of the kept segments and their indices.
    """
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    delta = p1 - p0
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    p = np.concatenate([-delta, delta], 1)                            # (L, 2D)
    q = np.concatenate([p0 - lower, upper - p0], 1)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = q / p
    t0 = np.max(np.where(p < 0, ratio, 0.0), axis=1, initial=0.0)
    t1 = np.min(np.where(p > 0, ratio, 1.0), axis=1, initial=1.0)
    parallel_out = np.any((p == 0) & (q < 0), axis=1)
    keep = np.nonzero((t0 <= t1) & ~parallel_out)[0]
    return (p0[keep] + t0[keep, None] * delta[keep], p0[keep] + t1[keep, None] * delta[keep], keep)


def project_segments(segments: np.ndarray, camera: CameraView, near: float = 0.1,
                     image_size: tuple[int, int] | None = None):
    """LiDAR-frame segments (L, 2, 3) -> pixel segments inside one camera's image.

    Returns (uv0, uv1, index): pixel end points (K, 2) of the visible parts, and the index
    of the segment each comes from. ``image_size`` (W, H) defaults to the camera's.
    """
    width, height = image_size or (camera.width, camera.height)
    if len(segments) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    rot, trans = camera.lidar2cam[:3, :3], camera.lidar2cam[:3, 3]
    cam = segments.reshape(-1, 3) @ rot.T + trans
    cam = cam.reshape(-1, 2, 3)
    c0, c1, front = clip_segments(cam[:, 0], cam[:, 1], [-np.inf, -np.inf, near],
                                  [np.inf, np.inf, np.inf])

    def to_pixels(points):
        uvw = points @ camera.cam2img.T
        return uvw[:, :2] / uvw[:, 2:3]

    uv0, uv1, inside = clip_segments(to_pixels(c0), to_pixels(c1), [0.0, 0.0],
                                     [width - 1.0, height - 1.0])
    return uv0, uv1, front[inside]


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, camera: CameraView,
               classes: Sequence[str], dash_px: float | None = None,
               thickness: int = 2) -> np.ndarray:
    """Draw boxes (N, 7+) (LiDAR frame) onto one camera's RGB image (H, W, 3) in place.

    ``camera`` must describe ``image`` (scale ``cam2img`` with the image). ``dash_px``
    draws dashed lines with dashes of that many pixels.
    """
    import cv2
    if len(boxes) == 0:
        return image
    wire = box_wireframe(boxes)
    uv0, uv1, index = project_segments(wire.segments, camera,
                                       image_size=(image.shape[1], image.shape[0]))
    source = wire.line_box[index]
    if dash_px is not None and len(uv0):
        uv0, uv1, keep = dash_segments(uv0, uv1, dash_px)
        source = source[keep]
    seg = np.round(np.stack([uv0, uv1], 1)).astype(np.int32)
    label_of_line = np.asarray(labels, dtype=np.int64)[source]
    for label in np.unique(label_of_line):
        color = (class_colors([label], classes)[0] * 255).round().astype(int).tolist()
        cv2.polylines(image, list(seg[label_of_line == label]), False, color, thickness,
                      cv2.LINE_AA)
    return image


def scaled_camera(camera: CameraView, scale: float) -> CameraView:
    """The camera of the image resized by ``scale``."""
    cam2img = np.diag([scale, scale, 1.0]) @ camera.cam2img
    return CameraView(camera.name, camera.img_path, cam2img, camera.lidar2cam,
                      int(round(camera.width * scale)), int(round(camera.height * scale)))


def _read_rgb(camera: CameraView) -> np.ndarray:
    import cv2
    image = cv2.imread(camera.img_path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'camera image {camera.img_path} ({camera.name}) not found or '
                                'unreadable; check data_root / data_prefix')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def camera_mosaic(sample: SampleData, predictions: Predictions | None = None,
                  score_thr: float = 0.3, scale: float = 0.5, show_gt: bool = True,
                  layout: Sequence[Sequence[str]] = MOSAIC_LAYOUT, legend: bool = True,
                  images: dict | None = None) -> np.ndarray:
    """RGB mosaic (rows x cols tiles) of the sample's cameras with projected boxes.

    scale: tile size relative to the camera images; cameras absent from the sample are
    black tiles; ``legend`` adds a strip with the title and classes below the tiles;
    ``images`` (optional) maps camera names to already loaded RGB images.
    """
    import cv2
    cams = sample.cameras
    if not cams:
        raise KeyError(f'sample {sample.token} has no camera info (images) to draw a mosaic')
    first = next(iter(cams.values()))
    tile_w, tile_h = int(round(first.width * scale)), int(round(first.height * scale))
    preds = (predictions or Predictions.empty()).above(score_thr)
    classes = list(sample.classes)
    thickness = max(1, int(round(4 * scale)))
    rows = []
    for row in layout:
        tiles = []
        for name in row:
            tile = np.zeros((tile_h, tile_w, 3), dtype=np.uint8)
            if name in cams:
                image = images[name] if images and name in images else _read_rgb(cams[name])
                tile = cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
                camera = scaled_camera(cams[name], tile_w / image.shape[1])
                if show_gt:
                    draw_boxes(tile, sample.gt_boxes, sample.gt_labels, camera, classes,
                               thickness=thickness)
                draw_boxes(tile, preds.boxes, preds.labels, camera, classes,
                           dash_px=8 * scale + 2, thickness=thickness)
            draw_label(tile, name, (8, tile_h - 10), scale=0.9 * scale + 0.2)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, 1))
    if legend:
        shown_gt = sample.gt_labels if show_gt else []
        rows.append(legend_bar(rows[0].shape[1],
                               present_classes(classes, shown_gt, preds.labels),
                               f'sample #{sample.index} {sample.token[:8]}',
                               scale=0.3 + 0.3 * scale))
    return np.concatenate(rows, 0)
