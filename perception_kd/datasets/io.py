"""File IO of the data layer, written once: point clouds, info files, atomic writes.

- :func:`load_points` / :func:`save_points`: float32 ``.pcd.bin`` clouds (N, dim); reading
  refuses truncated, empty and non-finite clouds, naming the file.
- :func:`load_info_file` / :func:`dump_atomic`: info files ``{'metainfo', 'data_list'}``.
- :func:`image_map_path` / :func:`load_image_map`: per-image integer maps (superpixels, 2D
  semantics) stored as PNG files beside the images, ``<root>/<folder>/<image path relative
  to root>`` with the extension ``.png``.
- :func:`write_atomic`: any bytes to a file through a temporary file in the same folder and
  ``os.replace``, so that readers see either no file or the whole file.

numpy and the standard library only: tools that only move files (make_ocf, create_data,
split_infos) import it without torch.
"""
from __future__ import annotations

import errno
import os
import os.path as osp
import pickle
import tempfile
from collections.abc import Callable

import numpy as np

from ..constants import POINT_DIM

__all__ = ['NotWritableError', 'check_points_finite', 'check_writable_dir', 'dump_atomic',
           'fsync_dir', 'image_map_path', 'info_file_problem', 'load_image_map',
           'load_info_file', 'load_points', 'save_points', 'write_atomic']


class NotWritableError(OSError, ValueError):
    """An output file or folder cannot be written (read-only, full, a file in the way);
    the message names the path and the reason. An ``OSError`` (what callers catch for
    writes) and a ``ValueError`` (what the data tools report as bad input)."""



def load_points(path: str, load_dim: int = POINT_DIM, what: str = 'point cloud file',
                context: str = '', allow_empty: bool = False,
                check_finite: bool = True) -> np.ndarray:
    """Read a float32 ``.pcd.bin`` with ``load_dim`` columns -> (N, load_dim).

    Every error names the file: ``what`` names its kind (e.g. ``'raw LiDAR cloud'``) and
    ``context`` is appended after the path (e.g. ``' (sample ..., scene ...)'``).

    Refused (``ValueError``), since no reader can use them:

    - a size that is not a multiple of ``4 * load_dim`` bytes (truncated file);
    - no point at all (a 0-byte file), unless ``allow_empty``: a real nuScenes keyframe or
      sweep always holds tens of thousands of points, and an Object-Complete Frame holds
      its keyframe's, so an empty cloud is a file that was not written completely;
    - NaN or infinite values (:func:`check_points_finite`), unless ``check_finite=False``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path}{context} not found; check data_root / '
                                'data_prefix, or rebuild the info files for this root with '
                                '`python tools/create_data.py ROOT`')
    size = osp.getsize(path)
    if size % (4 * load_dim):
        raise ValueError(f'{what} {path}{context} is corrupt: {size} bytes is not a multiple of '
                         f'{4 * load_dim} (float32 x load_dim={load_dim}): the file is '
                         'truncated (re-download or regenerate it) or load_dim is wrong')
    if size == 0 and not allow_empty:
        raise ValueError(f'{what} {path}{context} is empty (0 bytes, no point): a LiDAR '
                         'keyframe or sweep always has points, so the file was not written '
                         'completely; re-download or regenerate it')
    points = np.fromfile(path, dtype=np.float32).reshape(-1, load_dim)
    if check_finite:
        check_points_finite(points, f'{what} {path}{context}')
    return points


def check_points_finite(points: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` (e.g. ``'raw LiDAR cloud <path>'``) if any value
    of ``points`` (N, C) is NaN or infinite."""
    finite = np.isfinite(points)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.reshape(len(points), -1).all(1))
    raise ValueError(f'{name} has {len(bad)} point(s) with NaN/inf values (first: row '
                     f'{bad[0]} = {points[bad[0]].tolist()}); the file is corrupt: re-download '
                     'or regenerate it')


def _write_all(file, data: bytes) -> None:
    """Write ``data`` to an open binary file (a seam for tests that simulate a crash)."""
    file.write(data)


def write_atomic(path: str, write: Callable, fsync: bool = False) -> None:
    """Create ``path`` through ``write(file)`` on a temporary file in the same folder, then
    ``os.replace``: readers see either no file or the whole file, never a partial one.

    A hard kill (SIGKILL, power loss) can leave a ``<name>.<random>.tmp`` file next to it
    that nothing reads; an exception (e.g. a full disk) removes it. ``fsync``: flush the
    data to the disk before the rename and the folder entry after it, so that the file is
    complete after a power loss too (checkpoints); slower for many small files. The file
    gets the usual mode of new files (0644 under the default umask), not the 0600 of the
    temporary file.
    """
    directory = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=osp.basename(path) + '.', suffix='.tmp')
    except OSError as err:
        raise NotWritableError(f'cannot write {path}: {_reason(err, directory)}') from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, 'wb') as file:
            write(file)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if osp.exists(tmp):
            os.remove(tmp)
        if isinstance(err, OSError) and not isinstance(err, NotWritableError):
            raise NotWritableError(f'cannot write {path}: {err.strerror or err}') from err
        raise
    if fsync:
        fsync_dir(directory)


def _reason(err: OSError, directory: str) -> str:
    """Why a folder cannot take files, in words."""
    existing = directory
    while existing and not osp.exists(existing):
        existing = osp.dirname(existing)
    if existing and not osp.isdir(existing):
        return f'{existing} is a file, not a folder'
    if err.errno == errno.EROFS:
        return f'{directory} is on a read-only file system'
    if err.errno in (errno.EACCES, errno.EPERM):
        return f'no permission to write in {directory}'
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f'no space left on the device of {directory}'
    return err.strerror or str(err)


def check_writable_dir(directory: str, what: str = 'output folder') -> None:
    """Raise :class:`NotWritableError` naming ``directory`` unless files can be written in
    it: it is created if missing, then a 64 KiB probe file is written, flushed to the disk
    and removed. Finds a read-only or full file system and a file where the folder should
    be before a long job starts, not at its end.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix='.write_probe.', suffix='.tmp')
    except OSError as err:
        raise NotWritableError(f'{what} {directory} cannot be written: '
                               f'{_reason(err, directory)}') from err
    try:
        with os.fdopen(fd, 'wb') as file:
            file.write(b'\0' * 65536)
            file.flush()
            os.fsync(file.fileno())
    except OSError as err:
        raise NotWritableError(f'{what} {directory} cannot be written: '
                               f'{_reason(err, directory)}') from err
    finally:
        if osp.exists(probe):
            os.remove(probe)


def info_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a whole info file, or None if it looks whole.

    Cheap (reads 2 bytes at each end, does not unpickle): a pickle of protocol 2 or later
    starts with ``0x80 <protocol>`` and ends with the STOP opcode ``.``; a file cut short
    (a copy interrupted, a full disk) has no STOP at its end.
    """
    try:
        size = osp.getsize(path)
        with open(path, 'rb') as file:
            head = file.read(2)
            file.seek(max(size - 1, 0))
            tail = file.read(1)
    except OSError as err:
        return f'cannot be read ({err.strerror or err})'
    if size == 0:
        return 'empty (0 bytes)'
    if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return f'not a pickle ({size} bytes, starts with {head!r})'
    if tail != b'.':
        return f'truncated ({size} bytes, no end-of-pickle mark)'
    return None


def _umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: str) -> None:
    """Flush a folder's entries (a rename into it) to the disk; a no-op where folders
    cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_points(path: str, points: np.ndarray) -> None:
    """Write points as float32 to ``path`` atomically (:func:`write_atomic`)."""
    data = np.ascontiguousarray(points, dtype=np.float32).tobytes()
    write_atomic(path, lambda file: _write_all(file, data))


def dump_atomic(obj, path: str) -> None:
    """Pickle ``obj`` to ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(path, lambda file: pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL))


def load_info_file(path: str) -> dict:
    """Read an info file ``{'metainfo': ..., 'data_list': [...]}`` with clear errors."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'info file {path} not found; build the info files with '
                                '`python tools/create_data.py ROOT --version VERSION` first')
    try:
        with open(path, 'rb') as file:
            data = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError,
            IndexError, KeyError, TypeError, MemoryError) as err:
        reason = info_file_problem(path) or f'{type(err).__name__}: {err}'
        raise ValueError(f'info file {path} cannot be read: {reason}; rebuild it with '
                         'tools/create_data.py') from err
    if not isinstance(data, dict) or not isinstance(data.get('data_list'), list):
        raise ValueError(f'info file {path} is not a {{"metainfo", "data_list"}} dict (mmdet3d '
                         'v2 layout); rebuild it with tools/create_data.py')
    return data


def image_map_path(img_path: str, data_root: str, folder: str) -> str:
    """Where the map of kind ``folder`` of an image lives: ``<data_root>/<folder>/<img_path
    relative to data_root, extension .png>``, e.g. ``samples/CAM_FRONT/x.jpg`` ->
    ``<root>/superpixels/slic/samples/CAM_FRONT/x.png`` for ``folder='superpixels/slic'``.

    ``img_path`` must lie under ``data_root``: absolute, relative to the working directory
    (as the dataset resolves it: ``<data_root>/samples/...``) or relative to ``data_root``.
    """
    root = osp.abspath(data_root)
    path = osp.abspath(img_path)
    rel = osp.relpath(path, root)
    if rel.startswith('..') and not osp.isabs(img_path):
        path = osp.abspath(osp.join(root, img_path))
        rel = osp.relpath(path, root)
    if rel.startswith('..'):
        raise ValueError(f'image {img_path} is not under data_root {data_root}; image maps '
                         f'({folder}) are looked up relative to the data root')
    return osp.join(root, folder, osp.splitext(rel)[0] + '.png')


def load_image_map(path: str, what: str = 'image map', hint: str = '') -> np.ndarray:
    """Read a PNG integer map (8 or 16 bit, one channel) -> (H, W) array, naming the file
    in every error; ``hint`` says how to make the missing file."""
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} not found' + (f'; {hint}' if hint else ''))
    data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 2:
        raise ValueError(f'{what} {path} is not a one-channel PNG (corrupt or wrong kind); '
                         + (hint or 'regenerate it'))
    return data
