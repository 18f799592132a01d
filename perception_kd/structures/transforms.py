"""SE(3) helpers for the lidar -> ego -> global -> ego' -> camera chains of nuScenes.

Conventions:
- A transform is a 4x4 homogeneous matrix ``T_a2b`` (float64) mapping points in frame
  ``a`` to frame ``b``: ``p_b = T_a2b @ [p_a, 1]``; chains compose right to left,
  ``T_a2c = T_b2c @ T_a2b``.
- Quaternions are nuScenes-ordered ``(w, x, y, z)`` lists/arrays.
- Yaw is counter-clockwise around +z, from +x.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def quat_to_matrix(q: ArrayLike) -> np.ndarray:
    """Unit quaternion (w, x, y, z) -> 3x3 rotation matrix (the quaternion is normalised)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion (w, x, y, z) with w >= 0."""
    m = np.asarray(rot, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def yaw_to_quat(yaw: float) -> np.ndarray:
    """Rotation of ``yaw`` radians around +z as a quaternion (w, x, y, z)."""
    return np.array([np.cos(yaw / 2.0), 0.0, 0.0, np.sin(yaw / 2.0)])


def rotz(yaw: float | np.ndarray) -> np.ndarray:
    """Rotation matrices around +z: scalar -> (3, 3); array (N,) -> (N, 3, 3)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    zeros, ones = np.zeros_like(yaw), np.ones_like(yaw)
    mat = np.stack([np.stack([c, -s, zeros], -1), np.stack([s, c, zeros], -1),
                    np.stack([zeros, zeros, ones], -1)], -2)
    return mat


def matrix_yaw(rot: np.ndarray) -> np.ndarray:
    """Yaw (heading of the rotated +x axis in the xy plane) of rotation matrices (..., 3, 3)."""
    rot = np.asarray(rot)
    return np.arctan2(rot[..., 1, 0], rot[..., 0, 0])


def make_transform(rotation: ArrayLike | np.ndarray, translation: ArrayLike) -> np.ndarray:
    """4x4 transform from a quaternion (w, x, y, z) or a 3x3 matrix, and a translation."""
    rotation = np.asarray(rotation, dtype=np.float64)
    mat = np.eye(4)
    mat[:3, :3] = quat_to_matrix(rotation) if rotation.shape == (4,) else rotation
    mat[:3, 3] = np.asarray(translation, dtype=np.float64)
    return mat


def record_to_transform(record: dict) -> np.ndarray:
    """A nuScenes ``ego_pose`` / ``calibrated_sensor`` / annotation record -> 4x4 transform.

    For ``calibrated_sensor`` it is sensor -> ego; for ``ego_pose`` ego -> global; for a
    ``sample_annotation`` box -> global.
    """
    try:
        return make_transform(record['rotation'], record['translation'])
    except KeyError as err:
        raise KeyError(f'record {record.get("token", "?")} has no {err} field; expected a nuScenes '
                       'ego_pose, calibrated_sensor or sample_annotation record') from err


def invert(transform: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (or a batch (..., 4, 4))."""
    transform = np.asarray(transform, dtype=np.float64)
    rot = transform[..., :3, :3]
    inv = np.zeros_like(transform)
    inv[..., :3, :3] = np.swapaxes(rot, -1, -2)
    inv[..., :3, 3] = -np.einsum('...ji,...j->...i', rot, transform[..., :3, 3])
    inv[..., 3, 3] = 1.0
    return inv


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to points (N, 3+): xyz are transformed, extra columns kept.

    The result has the dtype of ``points``.
    """
    points = np.asarray(points)
    out = points.copy()
    xyz = points[:, :3].astype(np.float64) @ transform[:3, :3].T + transform[:3, 3]
    out[:, :3] = xyz.astype(points.dtype)
    return out


def chain(*transforms: np.ndarray) -> np.ndarray:
    """Compose transforms given in application order: ``chain(a2b, b2c) == b2c @ a2b``."""
    out = np.eye(4)
    for transform in transforms:
        out = np.asarray(transform, dtype=np.float64) @ out
    return out
