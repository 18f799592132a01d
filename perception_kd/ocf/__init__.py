"""Object-Complete Frames (X-Ray distillation): build them offline from LiDAR sequences.

- :class:`ObjectCompleteFrameBuilder` / :class:`OCFOptions`: the method on a scene's keyframes.
- :func:`make_ocf`: a whole nuScenes root through its info files (``tools/make_ocf.py``).
- :class:`PseudoLabels` / :class:`PseudoLabelOptions`: pseudo tracks of unlabelled scenes
  from a detector's predictions (semi-supervised X-Ray).
- :class:`KeyFrame`, :func:`scenes_from_infos`: keyframes of a scene from the info files
  (file IO: :mod:`perception_kd.datasets.io`).

Guide and method: ``docs/ocf.md``.
"""
from .builder import ObjectCompleteFrameBuilder, OCFFrame, OCFOptions
from .frames import KeyFrame, SceneFrames, lidar_boxes_to_upright_global, scenes_from_infos
from .make import DEFAULT_OUT, OCFSummary, make_ocf, parse_shard
from .pseudo import (
    FrameDetections,
    PseudoLabelOptions,
    PseudoLabels,
    link_tracks,
    pseudo_label_scene,
)

__all__ = [
    'ObjectCompleteFrameBuilder',
    'OCFOptions',
    'OCFFrame',
    'KeyFrame',
    'SceneFrames',
    'lidar_boxes_to_upright_global',
    'scenes_from_infos',
    'make_ocf',
    'OCFSummary',
    'parse_shard',
    'DEFAULT_OUT',
    'FrameDetections',
    'PseudoLabelOptions',
    'PseudoLabels',
    'link_tracks',
    'pseudo_label_scene',
]
