"""Headless PNG rendering of a :class:`~.scene.Scene` with Open3D's offscreen renderer.

Works without a display (EGL / Mesa llvmpipe on CPU, see docs/visualization.md for the
system libraries). Two fixed cameras:

- ``bev``: straight down on the scene's ``extent``, LiDAR +x to the right and +y up (the
  axes of :mod:`.bev_plot` and of the BEV grid); a narrow (20 degree) perspective from
  far above rather than an orthographic projection, whose thick lines Open3D 0.20 does
  not draw (parallax: about 1% per 3 m of height);
- ``chase``: perspective, behind and above the ego vehicle, looking along its heading.

Open3D 0.20's ``unlitLine`` shader draws a line ``line_width / (2 tan(fov / 2))`` pixels
wide whatever the image size; the renderer sets ``line_width`` per view so that lines
come out ``SceneItem.size`` pixels wide.

Create one :class:`OffscreenRenderer`, reuse it for every frame (creating it costs
~0.3 s) and :meth:`~OffscreenRenderer.close` it: Open3D 0.20 aborts the process when two
renderers have lived at once, so a second one is refused while the first is open.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .scene import Scene

VIEWS = ('bev', 'chase')
BEV_FOV = 20.0     # vertical field of view (degrees) of the bird's-eye camera
CHASE_FOV = 55.0


class OffscreenRenderer:
    """Render scenes to (H, W, 3) uint8 RGB images of a fixed size (a context manager).

    Args:
        width, height: image size in pixels.
        background: RGB in [0, 1].
        chase_distance, chase_height: chase camera position (m) behind / above the LiDAR.
    """
    _open = None   # the renderer open in this process, if any

    def __init__(self, width: int = 1024, height: int = 768,
                 background: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 chase_distance: float = 22.0, chase_height: float = 12.0):
        if width < 8 or height < 8:
            raise ValueError(f'image size must be at least 8x8, got {width}x{height}')
        if OffscreenRenderer._open is not None:
            raise RuntimeError('another OffscreenRenderer is open in this process; close() it '
                               'first (Open3D cannot have two at once)')
        from open3d.visualization import rendering
        self._rendering = rendering
        self.width, self.height = int(width), int(height)
        self.chase_distance, self.chase_height = chase_distance, chase_height
        self._renderer = rendering.OffscreenRenderer(self.width, self.height)
        self._renderer.scene.set_background([*background, 1.0])
        self._renderer.scene.view.set_post_processing(False)   # exact colours, no dithering
        self._scene, self._fov = None, None
        OffscreenRenderer._open = self

    def _material(self, kind: str, size: float, fov: float):
        material = self._rendering.MaterialRecord()
        if kind == 'points':
            material.shader = 'defaultUnlit'
            material.point_size = float(size)
        elif kind == 'lines':
            material.shader = 'unlitLine'
            material.line_width = float(size) * 2.0 * np.tan(np.radians(fov) / 2.0)
        else:
            raise ValueError(f'unknown scene item kind {kind!r}')
        return material

    def _load(self, scene: Scene, fov: float) -> None:
        o3d_scene = self._renderer.scene
        if self._scene is not scene:
            o3d_scene.clear_geometry()
            for item in scene.items:
                o3d_scene.add_geometry(item.name, item.geometry,
                                       self._material(item.kind, item.size, fov))
            self._scene, self._fov = scene, fov
        elif self._fov != fov:
            for item in scene.items:
                if item.kind == 'lines':
                    o3d_scene.modify_geometry_material(item.name,
                                                       self._material(item.kind, item.size, fov))
            self._fov = fov

    def _set_camera(self, scene: Scene, view: str) -> float:
        """Place the camera for ``view``; returns its vertical field of view (degrees)."""
        camera = self._renderer.scene.camera
        fov_type = self._rendering.Camera.FovType.Vertical
        aspect = self.width / self.height
        if view == 'bev':
            x0, x1, y0, y1 = scene.extent
            half_h = max((y1 - y0) / 2, (x1 - x0) / 2 / aspect)
            distance = half_h / np.tan(np.radians(BEV_FOV) / 2)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            camera.set_projection(BEV_FOV, aspect, distance - 60.0, distance + 60.0, fov_type)
            camera.look_at([cx, cy, 0.0], [cx, cy, distance], [0.0, 1.0, 0.0])
            return BEV_FOV
        if view == 'chase':
            fwd = np.asarray(scene.forward, dtype=np.float64)
            eye = -fwd * self.chase_distance + np.array([0.0, 0.0, self.chase_height])
            centre = fwd * 14.0 - np.array([0.0, 0.0, 1.0])
            camera.set_projection(CHASE_FOV, aspect, 0.5, 400.0, fov_type)
            camera.look_at(centre.tolist(), eye.tolist(), [0.0, 0.0, 1.0])
            return CHASE_FOV
        raise ValueError(f'unknown view {view!r}; choose one of {VIEWS}')

    def render(self, scene: Scene, view: str = 'bev') -> np.ndarray:
        """Render ``scene`` from camera ``view`` -> (height, width, 3) uint8 RGB."""
        if self._renderer is None:
            raise RuntimeError('this OffscreenRenderer is closed')
        self._load(scene, self._set_camera(scene, view))
        return np.array(self._renderer.render_to_image(), dtype=np.uint8, copy=True)

    def render_views(self, scene: Scene, views: Sequence[str] = VIEWS) -> dict[str, np.ndarray]:
        """Render several views of one scene (geometry uploaded once)."""
        return {view: self.render(scene, view) for view in views}

    def close(self) -> None:
        """Release the geometry and the Open3D renderer (idempotent)."""
        if self._renderer is not None:
            self._renderer.scene.clear_geometry()
            self._renderer = None
        self._scene, self._fov = None, None
        if OffscreenRenderer._open is self:
            OffscreenRenderer._open = None

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
