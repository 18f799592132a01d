"""Names and layouts shared by the whole package: a leaf module that imports nothing of it.

Data, models, OCF, pretraining, evaluation and the visualiser all read these, so they live
below every sub-package (``tests/test_imports.py`` keeps it a leaf and keeps models from
importing ``datasets`` or ``engine``).

- :data:`CLASSES`: the 10 nuScenes detection classes in mmdet3d's order; detection labels
  everywhere index this tuple.
- :data:`CAMERAS`: the 6 cameras in mmdet3d's order (the order of images in packed inputs).
- :data:`DEFAULT_DATA_PREFIX`: where each kind of file lives, relative to the data root.
- :data:`POINT_DIM`: float32 columns of a nuScenes ``LIDAR_TOP`` ``.pcd.bin``
  (x, y, z, intensity, ring index).
- :data:`TIME_DIM`: column of the time lag in clouds merged with sweeps (mmdet3d puts it in
  the ring-index column).
- :func:`resolve_path`: the rule that turns a path stored in an info file into a real path;
  :func:`resolve_sweep_path` the one for LiDAR sweep files (mmdet3d's rule).
"""
from __future__ import annotations

import os.path as osp

__all__ = ['CAMERAS', 'CLASSES', 'DEFAULT_DATA_PREFIX', 'POINT_DIM', 'TIME_DIM', 'resolve_path',
           'resolve_sweep_path']

CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
           'pedestrian', 'traffic_cone', 'barrier')
CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
DEFAULT_DATA_PREFIX = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                           **{cam: f'samples/{cam}' for cam in CAMERAS})
POINT_DIM = 5
TIME_DIM = 4


def resolve_path(value: str | None, data_root: str, prefix: str | None) -> str | None:
    """Resolve a path stored in an info file (the rule of ``docs/data_format.md``).

    A bare file name is joined to ``prefix`` (itself already joined to the root); a
    relative path with a directory part is joined to ``data_root``; absolute paths and
    None are returned unchanged.
    """
    if value is None or osp.isabs(value):
        return value
    if osp.dirname(value) == '':
        if prefix is None:
            raise KeyError(f'no data_prefix for file {value!r}; add its kind to data_prefix')
        return osp.join(prefix, value)
    return osp.join(data_root, value)


def resolve_sweep_path(value: str, pts_prefix: str, sweeps_prefix: str) -> str:
    """Resolve the ``lidar_path`` of a LiDAR sweep the way mmdet3d's ``Det3DDataset`` does.

    A sweep is found by its file name under the prefix of its kind (both prefixes already
    joined to the root): ``pts_prefix`` when its stored path has a ``samples`` folder (a
    sweep that is an earlier keyframe), ``sweeps_prefix`` otherwise. This reads the
    root-relative paths of our infos (``sweeps/LIDAR_TOP/<file>``) and the paths mmdet3d's
    converter stores (``./data/nuscenes/sweeps/LIDAR_TOP/<file>``, relative to wherever it
    ran) alike. Absolute paths are returned unchanged.
    """
    if osp.isabs(value):
        return value
    folders = osp.normpath(osp.dirname(value)).replace('\\', '/').split('/')
    prefix = pts_prefix if 'samples' in folders else sweeps_prefix
    return osp.join(prefix, osp.basename(value))
