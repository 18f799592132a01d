"""Image-to-LiDAR pretraining inputs: per-camera label maps and point-to-pixel pairs.

Pipeline order (``docs/lima.md``)::

    LoadPointsFromFile -> LoadMultiViewImages -> LoadSuperpixels [-> LoadImageSemantics]
    -> ImageAug3D (warps the maps, nearest) -> BEVAugmentation -> PointsRangeFilter
    -> PointShuffle -> PointImagePairing -> Pack3DDetInputs

Maps live beside the images (:func:`perception_kd.datasets.io.image_map_path`):
``<root>/superpixels/<method>/samples/CAM_X/<name>.png`` (uint16, segment ids 1..K, 0 =
none) and ``<root>/semantic2d/samples/CAM_X/<name>.png`` (uint8 lidarseg indices, 0 =
sky / unknown). The data root comes from the ``data_root`` argument or, when None, from
``results['data_root']``, which :class:`NuScenesDataset` sets for every sample.
"""
from __future__ import annotations

import os.path as osp

import numpy as np

from ...registry import TRANSFORMS
from ...structures import project_points_to_cameras
from ..io import image_map_path, load_image_map
from .base import BaseTransform

#: ``results`` key of what ``PointImagePairing`` saw: the point count and the first rows' xyz.
PAIRED_POINTS_KEY = 'pairing_points'
_HEAD = 8
_HINTS = {
    'render': 'regenerate the synthetic world with its image maps (`python tools/make_synthetic.py '
              '--out ROOT --overwrite`, without --no-image-maps)',
    'semantic2d': 'regenerate the synthetic world with its image maps (`python '
                  'tools/make_synthetic.py --out ROOT --overwrite`, without --no-image-maps)',
}


class _LoadImageMaps(BaseTransform):
    """Read one (H, W) map per camera of ``results['img_path']`` into ``out_key``."""
    folder: str
    out_key: str
    what: str
    hint: str

    def __init__(self, data_root: str | None = None):
        self.data_root = data_root

    def transform(self, results: dict) -> dict:
        root = self.data_root if self.data_root is not None else results.get('data_root')
        if not root:
            raise KeyError(f'{type(self).__name__} needs the data root: set its data_root '
                           'argument (the dataset\'s data_root) or use a dataset that puts '
                           "'data_root' in each sample (NuScenesDataset does)")
        if 'img_path' not in results:
            raise KeyError(f'{type(self).__name__} reads the maps of results["img_path"]; put '
                           'it after LoadMultiViewImages (and before ImageAug3D)')
        maps = []
        for idx, img_path in enumerate(results['img_path']):
            path = image_map_path(img_path, root, self.folder)
            data = load_image_map(path, self.what, self.hint.replace('ROOT', str(root)))
            shape = tuple(results['img'][idx].shape[:2]) if 'img' in results else data.shape
            if data.shape != shape:
                raise ValueError(f'{self.what} {path} is {data.shape[0]}x{data.shape[1]} but its '
                                 f'image {img_path} is {shape[0]}x{shape[1]}; load the maps '
                                 'before ImageAug3D, or remake them: ' + self.hint.replace(
                                     'ROOT', str(root)))
            maps.append(data.astype(np.int64))
        results[self.out_key] = maps
        return results


@TRANSFORMS.register_module()
class LoadSuperpixels(_LoadImageMaps):
    """Superpixels of every camera image -> ``results['img_superpixels']`` (list of (H, W)
    int64, camera order of ``img_path``; 0 = no segment).

    Args:
        method: folder under ``<root>/superpixels``: ``'slic'`` (``tools/make_superpixels.py
            ROOT``) or ``'render'`` (exact segments of the synthetic generator).
        data_root: the dataset root; None: ``results['data_root']``.
    """
    out_key = 'img_superpixels'

    def __init__(self, method: str = 'slic', data_root: str | None = None):
        super().__init__(data_root)
        if not method or osp.isabs(method) or '..' in method:
            raise ValueError(f'method must be a folder name under superpixels/, got {method!r}')
        self.method = method
        self.folder = f'superpixels/{method}'
        self.what = f'superpixel map ({method})'
        self.hint = _HINTS.get(method, f'make it with `python tools/make_superpixels.py ROOT '
                                       f'--method {method}`')


@TRANSFORMS.register_module()
class LoadImageSemantics(_LoadImageMaps):
    """2D semantic maps (lidarseg indices, 0 = sky / unknown) of every camera image ->
    ``results['img_semantics']`` (list of (H, W) int64). ``data_root`` as LoadSuperpixels."""
    out_key = 'img_semantics'
    folder = 'semantic2d'
    what = '2D semantic map'
    hint = _HINTS['semantic2d']


@TRANSFORMS.register_module()
class PointImagePairing(BaseTransform):
    """Pair the points with camera pixels -> ``results['pairing']`` (M, 4) int64
    ``[point_index, cam_index, row, col]`` (see :func:`project_points_to_cameras`).

    Uses ``points`` (all of them: merged sweeps too), ``lidar2img``, ``img_shape`` (after
    ``ImageAug3D``: pixels of the augmented images) and ``bda_mat`` (undone). After an
    ``ImageAug3D`` (``img_aug_matrix``, ``ori_shape``) a pair also needs the point inside the
    original image, so no point pairs with the black border of a crop / rotation. Put it after
    every step that moves, filters or reorders points or images (``BEVAugmentation``,
    ``PointsRangeFilter``, ``PointShuffle``, ``ImageAug3D``): point indices refer to the final
    ``points``; ``Pack3DDetInputs`` raises if their count changed after pairing.
    """

    def __init__(self, min_depth: float = 1.0):
        self.min_depth = float(min_depth)

    def transform(self, results: dict) -> dict:
        missing = [key for key in ('points', 'lidar2img', 'img_shape') if key not in results]
        if missing:
            raise KeyError(f'PointImagePairing needs {missing}; put it after LoadPointsFromFile '
                           'and LoadMultiViewImages (and after every point/image transform)')
        points = results['points']
        bda = results.get('bda_mat')
        pairs = project_points_to_cameras(points[:, :3], results['lidar2img'],
                                          results['img_shape'], self.min_depth, bda).as_array()
        aug = results.get('img_aug_matrix')
        if aug is not None and 'ori_shape' in results and not np.allclose(aug, np.eye(4)):
            # drop pixels of the augmented images that come from outside the source image
            # (black borders of a crop or rotation): the point must be in the original too
            to_orig = np.tile(np.eye(4), (len(aug), 1, 1))
            to_orig[:, :2, :2], to_orig[:, :2, 2] = aug[:, :2, :2], aug[:, :2, 3]
            lidar2orig = np.linalg.inv(to_orig) @ np.asarray(results['lidar2img'])
            orig = project_points_to_cameras(points[:, :3], lidar2orig, results['ori_shape'],
                                             self.min_depth, bda).as_array()
            num_cams = len(aug)
            keep = np.isin(pairs[:, 0] * num_cams + pairs[:, 1],
                           orig[:, 0] * num_cams + orig[:, 1])
            pairs = pairs[keep]
        results['pairing'] = pairs
        results[PAIRED_POINTS_KEY] = (len(points), np.array(points[:_HEAD, :3], copy=True))
        return results


def check_pairing(results: dict) -> None:
    """Raise if ``points`` changed (count, or the first rows: a shuffle, a move) since
    :class:`PointImagePairing` ran."""
    if 'pairing' not in results or PAIRED_POINTS_KEY not in results:
        return
    count, head = results[PAIRED_POINTS_KEY]
    points = results.get('points')
    now = None if points is None else len(points)
    if now != count or not np.array_equal(points[:_HEAD, :3], head):
        raise ValueError(f'points changed after PointImagePairing ({count} paired, {now} now, '
                         'or reordered / moved): put PointImagePairing after every transform '
                         'that filters, reorders or moves points (PointsRangeFilter, '
                         'PointShuffle, BEVAugmentation, ...)')
