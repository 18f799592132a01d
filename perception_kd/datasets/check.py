"""Read every file an info file points to, once, and list the bad ones.

:func:`check_files` backs ``tools/create_data.py --check``: the info files themselves
never read a cloud or an image, so a truncated, empty or NaN cloud or a broken JPEG gives
the same info files as a clean tree and is only found when training reaches it. Here each
keyframe cloud, sweep cloud and camera image referenced by the info files is read once
(shared sweeps once in all) with the readers of the data layer: clouds through
:func:`~perception_kd.datasets.io.load_points` (size a multiple of the point record, not
empty) and the NaN/inf test of training, images decoded completely by Pillow (which,
unlike OpenCV, refuses a truncated JPEG instead of filling its missing rows with grey).
"""
from __future__ import annotations

import os.path as osp
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..constants import DEFAULT_DATA_PREFIX, POINT_DIM, resolve_path
from .io import load_info_file, load_points

__all__ = ['FileCheckReport', 'FileProblem', 'check_files', 'cloud_problem', 'image_problem',
           'referenced_files']

KINDS = ('keyframe cloud', 'sweep cloud', 'image')


@dataclass(frozen=True)
class FileProblem:
    """A bad file: its path, kind (one of :data:`KINDS`) and the reason in a few words."""
    path: str
    kind: str
    reason: str


@dataclass
class FileCheckReport:
    """What :func:`check_files` read (files per kind) and the bad files found."""
    info_files: list
    checked: Counter = field(default_factory=Counter)
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A summary line, then one line per bad file (``path: kind: reason``)."""
        counts = ', '.join(f'{self.checked[kind]} {kind}s' for kind in KINDS)
        names = ', '.join(osp.basename(path) for path in self.info_files)
        verdict = 'all readable' if self.ok else f'{len(self.problems)} bad file(s)'
        lines = [f'checked {counts} of {names}: {verdict}']
        lines += [f'  {p.path}: {p.kind}: {p.reason}' for p in self.problems]
        return '\n'.join(lines)


def cloud_problem(path: str, load_dim: int = POINT_DIM) -> str | None:
    """Why the float32 ``.pcd.bin`` at ``path`` cannot be used, or None."""
    if not osp.isfile(path):
        return 'missing'
    size = osp.getsize(path)
    if size == 0:
        return 'empty (0 bytes)'
    record = 4 * load_dim
    if size % record:
        return f'size {size} bytes is not a multiple of {record} (truncated)'
    try:
        points = load_points(path, load_dim, check_finite=False)
    except (OSError, ValueError) as err:
        return f'unreadable ({getattr(err, "strerror", None) or err})'
    bad = np.flatnonzero(~np.isfinite(points).all(1))
    if len(bad):
        return f'non-finite values: {len(bad)} point(s) with NaN/inf (first: row {bad[0]})'
    return None


def image_problem(path: str) -> str | None:
    """Why the image at ``path`` cannot be decoded completely, or None."""
    from PIL import Image, UnidentifiedImageError
    if not osp.isfile(path):
        return 'missing'
    if osp.getsize(path) == 0:
        return 'empty (0 bytes)'
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError:
        return 'undecodable (not an image)'
    except (OSError, ValueError, SyntaxError) as err:
        return f'undecodable ({err})'
    return None


def referenced_files(info_paths: Sequence[str], data_root: str,
                     images: bool = True) -> list[tuple[str, str, int]]:
    """``(kind, path, load_dim)`` of every cloud and image the info files point to, each
    once, in info order (paths resolved as ``NuScenesDataset`` does with the default
    ``data_prefix``)."""
    prefix = {key: osp.join(data_root, value) for key, value in DEFAULT_DATA_PREFIX.items()}
    seen, files = set(), []

    def add(kind, path, load_dim=POINT_DIM):
        if path and path not in seen:
            seen.add(path)
            files.append((kind, path, load_dim))

    for info_path in info_paths:
        for info in load_info_file(info_path)['data_list']:
            lidar = info.get('lidar_points') or {}
            dim = int(lidar.get('num_pts_feats', POINT_DIM))
            add('keyframe cloud', resolve_path(lidar.get('lidar_path'), data_root,
                                               prefix['pts']), dim)
            for sweep in info.get('lidar_sweeps') or []:
                add('sweep cloud', resolve_path(sweep['lidar_points']['lidar_path'], data_root,
                                                prefix['sweeps']), dim)
            if images:
                for cam, image in (info.get('images') or {}).items():
                    add('image', resolve_path(image.get('img_path'), data_root,
                                              prefix.get(cam)))
    return files


def check_files(info_paths: Sequence[str], data_root: str, images: bool = True,
                progress: bool = True) -> FileCheckReport:
    """Read every keyframe and sweep cloud and (``images``) every camera image of the info
    files once; the report lists each bad file with its reason (missing, empty, size not a
    multiple of the point record, non-finite values, undecodable image)."""
    from tqdm import tqdm
    report = FileCheckReport(info_files=list(info_paths))
    files = referenced_files(info_paths, data_root, images)
    for kind, path, load_dim in tqdm(files, desc='checking files', unit='file',
                                     disable=not progress):
        problem = cloud_problem(path, load_dim) if kind != 'image' else image_problem(path)
        report.checked[kind] += 1
        if problem:
            report.problems.append(FileProblem(path, kind, problem))
    return report
