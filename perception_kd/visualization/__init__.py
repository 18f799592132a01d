"""Visualisation: Open3D scenes, headless PNG rendering, camera mosaics and BEV plots.

- :mod:`.sample`: :class:`SampleSource` / :class:`SampleData` (cloud, boxes, cameras of a
  sample from the info files); :mod:`.results`: nuScenes results JSON -> LiDAR-frame
  :class:`Predictions`.
- :mod:`.wireframe`: box line sets in numpy; :mod:`.palette`: class and point colours.
- :mod:`.scene` (Open3D geometry), :mod:`.offscreen` (headless PNG),
  :mod:`.interactive` (window), :mod:`.camera_mosaic`, :mod:`.bev_plot`, :mod:`.video`.
- :class:`SampleVisualizer` writes the images of a sample; :class:`Det3DVisualizationHook`
  does it for the first N samples of a test run.

Submodules load on first use (:mod:`perception_kd.lazy`); Open3D is imported only when a
scene is built or rendered. See docs/visualization.md.
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'bev_plot': ('grid_for_heatmap', 'plot_bev'),
    'camera_mosaic': ('camera_mosaic', 'project_segments'),
    'hooks': ('Det3DVisualizationHook',),
    'palette': ('CLASS_COLORS', 'POINT_COLOR_MODES', 'lidarseg_colormap', 'point_colors'),
    'results': ('Predictions', 'boxes_to_predictions', 'load_results'),
    'sample': ('CameraView', 'SampleData', 'SampleSource'),
    'scene': ('Scene', 'SceneOptions', 'boxes_line_set', 'build_scene'),
    'video': ('save_png', 'write_video'),
    'visualizer': ('IMAGE_KINDS', 'SampleVisualizer'),
    'wireframe': ('BOX_LINES', 'Wireframe', 'box_wireframe', 'dash_segments'),
})
