"""Shared fixtures: a tiny synthetic nuScenes-format tree and its info files.

Built once per test session (a few seconds) in a temporary directory.
"""
import os

import pytest

os.environ.setdefault('MPLBACKEND', 'Agg')

TINY = dict(version='v1.0-mini', scenes=2, keyframes=4, lidar_hz=10, image_size=(320, 180),
            seed=7, workers=1)


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory):
    """Root of a 2-scene synthetic v1.0-mini tree (scene-0061 train, scene-0103 val)."""
    from perception_kd.datasets.synthetic import SyntheticConfig, generate_dataset
    root = tmp_path_factory.mktemp('nuscenes_tiny')
    generate_dataset(SyntheticConfig(out=str(root), **TINY), progress=False)
    return str(root)


@pytest.fixture(scope='session')
def tiny_infos(tiny_root):
    """{'train': path, 'val': path} of the tiny tree's info files (up to 3 sweeps)."""
    from perception_kd.datasets.infos import create_nuscenes_infos
    return create_nuscenes_infos(tiny_root, version='v1.0-mini', max_sweeps=3, progress=False)


@pytest.fixture(scope='session')
def tiny_nusc(tiny_root):
    """The unmodified devkit's NuScenes object over the tiny tree."""
    from nuscenes.nuscenes import NuScenes
    return NuScenes(version='v1.0-mini', dataroot=tiny_root, verbose=False)


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    """Each test starts and ends with the same mmengine default scopes.

    A Runner registers its default scope under its experiment name (second-resolution
    timestamps) and mmengine returns an existing instance for a known name, so without
    this a Runner of one test could inherit the scope another test left behind.
    """
    from mmengine.registry import DefaultScope
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
