"""An interactive Open3D window that steps through samples (needs a display).

Keys: ``N`` / right arrow next sample, ``P`` / left arrow previous, ``Q`` / Esc quit
(Open3D's own mouse and keys - rotate, zoom, ``H`` for help - work as usual). The view is
kept when stepping, so a region can be followed through a scene.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from .scene import Scene

GLFW_RIGHT, GLFW_LEFT = 262, 263


def has_display() -> bool:
    """Whether a window can be opened (an X11 or Wayland display is set)."""
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


class InteractiveViewer:
    """Browse ``indices`` with ``make_scene(index) -> Scene``, starting at position ``start``."""

    def __init__(self, make_scene: Callable[[int], Scene], indices: Sequence[int], start: int = 0,
                 width: int = 1280, height: int = 800, point_size: float = 2.0):
        if not indices:
            raise ValueError('no samples to show')
        self.make_scene = make_scene
        self.indices = list(indices)
        self.position = min(max(start, 0), len(self.indices) - 1)
        self.width, self.height, self.point_size = width, height, point_size
        self._vis = None

    def _show(self, reset_view: bool) -> None:
        index = self.indices[self.position]
        scene = self.make_scene(index)
        self._vis.clear_geometries()
        for item in scene.items:
            self._vis.add_geometry(item.geometry, reset_bounding_box=reset_view)
        if reset_view:      # start behind and above the ego vehicle, looking ahead
            control = self._vis.get_view_control()
            fwd = np.asarray(scene.forward, dtype=np.float64)
            front = -fwd + np.array([0.0, 0.0, 0.8])
            control.set_front((front / np.linalg.norm(front)).tolist())
            control.set_lookat((fwd * 10.0).tolist())
            control.set_up([0.0, 0.0, 1.0])
            control.set_zoom(0.12)
        print(f'[{self.position + 1}/{len(self.indices)}] sample {scene.title}; '
              f'classes: {", ".join(scene.classes) or "-"}  (N/P: next/previous, Q: quit)')

    def _step(self, delta: int) -> Callable:
        def callback(vis) -> bool:
            position = self.position + delta
            if 0 <= position < len(self.indices):
                self.position = position
                self._show(reset_view=False)
            return True
        return callback

    def open(self):
        """Open the window, bind the keys and show the first sample; returns the Open3D
        ``VisualizerWithKeyCallback`` (``run()`` then hands it the event loop)."""
        if not has_display():
            raise RuntimeError('no display (DISPLAY / WAYLAND_DISPLAY unset) for an interactive '
                               'window; render headless PNGs with --out DIR instead')
        import open3d as o3d
        self._vis = o3d.visualization.VisualizerWithKeyCallback()
        if not self._vis.create_window('perception_kd', self.width, self.height):
            raise RuntimeError('Open3D could not open a window on this display; use --out DIR')
        option = self._vis.get_render_option()
        option.background_color = [0.0, 0.0, 0.0]
        option.point_size = self.point_size
        for key, delta in ((ord('N'), 1), (GLFW_RIGHT, 1), (ord('P'), -1), (GLFW_LEFT, -1)):
            self._vis.register_key_callback(key, self._step(delta))
        self._show(reset_view=True)
        return self._vis

    def run(self) -> None:
        """Open the window and block until it is closed."""
        vis = self.open()
        vis.run()
        vis.destroy_window()
