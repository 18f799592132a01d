"""Visualisation: Open3D scenes, headless PNG rendering, camera mosaics and BEV plots.

- :mod:`.sample`: :class:`SampleSource` / :class:`SampleData` (cloud, boxes, cameras of a
  sample from the info files); :mod:`.results`: nuScenes results JSON -> LiDAR-frame
  :class:`Predictions`.
- :mod:`.wireframe`: box line sets in numpy; :mod:`.palette`: class and point colours.
- :mod:`.scene` (Open3D geometry), :mod:`.offscreen` (headless PNG),
  :mod:`.interactive` (window), :mod:`.camera_mosaic`, :mod:`.bev_plot`, :mod:`.video`.
- :class:`SampleVisualizer` writes the images of a sample; :class:`Det3DVisualizationHook`
  does it for the first N samples of a test run.

Open3D is imported only when a scene is built or rendered. See docs/visualization.md.
"""
from .bev_plot import grid_for_heatmap, plot_bev
from .camera_mosaic import camera_mosaic, project_segments
from .hooks import Det3DVisualizationHook
from .palette import CLASS_COLORS, POINT_COLOR_MODES, lidarseg_colormap, point_colors
from .results import Predictions, boxes_to_predictions, load_results
from .sample import CameraView, SampleData, SampleSource
from .scene import Scene, SceneOptions, boxes_line_set, build_scene
from .video import save_png, write_video
from .visualizer import IMAGE_KINDS, SampleVisualizer
from .wireframe import BOX_LINES, Wireframe, box_wireframe, dash_segments

__all__ = [
    'grid_for_heatmap', 'plot_bev', 'camera_mosaic', 'project_segments',
    'Det3DVisualizationHook', 'CLASS_COLORS', 'POINT_COLOR_MODES', 'lidarseg_colormap',
    'point_colors', 'Predictions', 'boxes_to_predictions', 'load_results', 'CameraView',
    'SampleData', 'SampleSource', 'Scene', 'SceneOptions', 'boxes_line_set', 'build_scene',
    'save_png', 'write_video', 'IMAGE_KINDS', 'SampleVisualizer', 'BOX_LINES', 'Wireframe',
    'box_wireframe', 'dash_segments'
]
