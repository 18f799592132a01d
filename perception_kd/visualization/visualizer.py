"""Write the images of samples to a folder: Open3D views, camera mosaic, BEV plot.

:class:`SampleVisualizer` is what ``tools/visualize.py --out`` and the test-time hook
(:mod:`.hooks`) share. Files are named ``<index:04d>_<token[:8]>_<kind>.png`` with kind
``bev`` / ``chase`` (Open3D, headless), ``cameras`` (mosaic) and ``bevplot`` (matplotlib).
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import numpy as np

from ..structures import BEVGrid
from .bev_plot import plot_bev
from .camera_mosaic import camera_mosaic
from .offscreen import VIEWS
from .overlay import draw_legend
from .results import Predictions
from .sample import SampleData
from .scene import SceneOptions, build_scene
from .video import save_png

IMAGE_KINDS = VIEWS + ('cameras', 'bevplot')


class SampleVisualizer:
    """Render each requested kind of image of a sample and save it under ``out_dir``.

    Args:
        out_dir: output folder.
        kinds: any of ``bev``, ``chase`` (Open3D offscreen), ``cameras``, ``bevplot``.
        options: what the scene shows (:class:`SceneOptions`); the score threshold,
            point colouring and BEV range apply to every kind.
        size: (W, H) of the Open3D images; mosaic_scale: camera tile size relative to the
            images; bev_size: side of the BEV plot in pixels.
        legend: draw the title and class legend onto the Open3D images.
        lidarseg_table: lidarseg class colours (:func:`.palette.lidarseg_colormap`).
    """

    def __init__(self, out_dir: str, kinds: Sequence[str] = VIEWS,
                 options: SceneOptions | None = None, size: tuple[int, int] = (1024, 768),
                 mosaic_scale: float = 0.5, bev_size: int = 1000, legend: bool = True,
                 lidarseg_table: np.ndarray | None = None):
        unknown = [kind for kind in kinds if kind not in IMAGE_KINDS]
        if unknown:
            raise ValueError(f'unknown image kinds {unknown}; choose from {IMAGE_KINDS}')
        self.out_dir = out_dir
        self.kinds = tuple(kinds)
        self.options = options or SceneOptions()
        self.size = tuple(size)
        self.mosaic_scale = mosaic_scale
        self.bev_size = bev_size
        self.legend = legend
        self.lidarseg_table = lidarseg_table
        self._renderer = None

    @property
    def renderer(self):
        """The Open3D offscreen renderer, created on first use and then reused."""
        if self._renderer is None:
            from .offscreen import OffscreenRenderer
            self._renderer = OffscreenRenderer(*self.size)
        return self._renderer

    def path(self, sample: SampleData, kind: str) -> str:
        return osp.join(self.out_dir, f'{sample.index:04d}_{sample.token[:8]}_{kind}.png')

    def render(self, sample: SampleData, predictions: Predictions | None = None,
               heatmap: np.ndarray | None = None,
               grid: BEVGrid | None = None) -> dict[str, np.ndarray]:
        """The requested images of one sample as RGB arrays, by kind."""
        images = {}
        views = [kind for kind in self.kinds if kind in VIEWS]
        if views:
            scene = build_scene(sample, predictions, self.options, self.lidarseg_table)
            for view in views:
                image = self.renderer.render(scene, view)
                images[view] = draw_legend(image, scene.classes, scene.title) if self.legend \
                    else image
        opts = self.options
        if 'cameras' in self.kinds:
            images['cameras'] = camera_mosaic(sample, predictions, opts.score_thr,
                                              self.mosaic_scale, show_gt=opts.show_gt,
                                              legend=self.legend)
        if 'bevplot' in self.kinds:
            images['bevplot'] = plot_bev(sample, predictions, score_thr=opts.score_thr,
                                         show_gt=opts.show_gt, point_color=opts.point_color,
                                         bev_range=opts.bev_range, heatmap=heatmap, grid=grid,
                                         size_px=self.bev_size,
                                         height_range=opts.height_range,
                                         lidarseg_table=self.lidarseg_table)
        return images

    def visualize(self, sample: SampleData, predictions: Predictions | None = None,
                  heatmap: np.ndarray | None = None,
                  grid: BEVGrid | None = None) -> dict[str, str]:
        """Render and save the requested images of one sample; returns {kind: path}."""
        images = self.render(sample, predictions, heatmap, grid)
        return {kind: save_png(image, self.path(sample, kind)) for kind, image in images.items()}

    def close(self) -> None:
        """Release the Open3D renderer (a later render opens a new one)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
