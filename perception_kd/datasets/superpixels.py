"""Superpixels of the keyframe camera images, computed once and cached beside them.

``make_superpixels(root)`` writes one uint16 PNG per keyframe camera image named in the info
files of ``root`` (every ``*infos_*.pkl`` found there, all splits) at
``<root>/superpixels/<method>/samples/CAM_X/<name>.png`` (:func:`image_map_path`): segment ids
1..K, 0 unused. Existing maps are skipped (``force`` recomputes them); every file is written
atomically, so an interrupted run resumes where it stopped. ``LoadSuperpixels`` reads them.
"""
from __future__ import annotations

import glob
import os.path as osp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..constants import DEFAULT_DATA_PREFIX, resolve_path
from .io import image_map_path, load_info_file, write_atomic

__all__ = ['SuperpixelSummary', 'keyframe_images', 'make_superpixels', 'slic_superpixels']

METHODS = ('slic',)


@dataclass
class SuperpixelSummary:
    """What a run did: images written / skipped, mean segments per written image, seconds."""
    done: int
    skipped: int
    mean_segments: float
    seconds: float

    def __str__(self) -> str:
        return (f'{self.done} images done, {self.skipped} skipped (already there), '
                f'{self.mean_segments:.1f} segments per image, {self.seconds:.1f} s')


def keyframe_images(root: str) -> list:
    """Absolute paths of the keyframe camera images of every info file in ``root`` (sorted,
    unique)."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'data root {root} not found')
    infos = sorted(glob.glob(osp.join(root, '*infos_*.pkl')))
    if not infos:
        raise FileNotFoundError(f'no info files (*infos_*.pkl) in {root}; build them with '
                                f'`python tools/create_data.py {root}` first')
    paths = set()
    for info_file in infos:
        for info in load_info_file(info_file)['data_list']:
            for channel, image in (info.get('images') or {}).items():
                prefix = osp.join(root, DEFAULT_DATA_PREFIX.get(channel, f'samples/{channel}'))
                paths.add(osp.abspath(resolve_path(image['img_path'], root, prefix)))
    return sorted(paths)


def slic_superpixels(rgb: np.ndarray, n_segments: int = 150, compactness: float = 6.0,
                     sigma: float = 3.0) -> np.ndarray:
    """SLIC of an (H, W, 3) RGB image -> (H, W) uint16 segment ids 1..K."""
    from skimage.segmentation import slic
    labels = slic(rgb, n_segments=n_segments, compactness=compactness, sigma=sigma,
                  start_label=1, channel_axis=-1)
    _, inverse = np.unique(labels, return_inverse=True)
    return (inverse.reshape(labels.shape) + 1).astype(np.uint16)


def _one_image(job: tuple) -> int:
    """Compute and write the map of one image; returns its segment count."""
    img_path, out_path, params = job
    import cv2
    if not osp.isfile(img_path):
        raise FileNotFoundError(f'camera image {img_path} not found (named in the info files); '
                                'check the data root or rebuild the info files')
    bgr = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'camera image {img_path} could not be decoded')
    segments = slic_superpixels(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), **params)
    ok, png = cv2.imencode('.png', segments)
    if not ok:
        raise ValueError(f'could not encode the superpixels of {img_path}')
    write_atomic(out_path, lambda file: file.write(png.tobytes()))
    return int(segments.max())


def make_superpixels(root: str, method: str = 'slic', n_segments: int = 150,
                     compactness: float = 6.0, sigma: float = 3.0, workers: int = 1,
                     force: bool = False, progress: bool = True) -> SuperpixelSummary:
    """Write the superpixel maps of every keyframe camera image of ``root`` (module doc)."""
    from tqdm import tqdm
    if method not in METHODS:
        raise ValueError(f'unknown superpixel method {method!r}; known: {METHODS} (the exact '
                         "'render' segments come from tools/make_synthetic.py)")
    start = time.time()
    params = dict(n_segments=int(n_segments), compactness=float(compactness),
                  sigma=float(sigma))
    jobs, skipped = [], 0
    for img_path in keyframe_images(root):
        out_path = image_map_path(img_path, root, f'superpixels/{method}')
        if osp.isfile(out_path) and not force:
            skipped += 1
        else:
            jobs.append((img_path, out_path, params))
    counts = []
    with tqdm(total=len(jobs), desc=f'superpixels ({method})', unit='img',
              disable=not progress) as bar:
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for count in pool.map(_one_image, jobs, chunksize=4):
                    counts.append(count)
                    bar.update()
        else:
            for job in jobs:
                counts.append(_one_image(job))
                bar.update()
    return SuperpixelSummary(len(jobs), skipped, float(np.mean(counts)) if counts else 0.0,
                             time.time() - start)
