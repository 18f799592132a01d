"""Keyframes of a scene as the OCF builder reads them from info files, and cloud file IO.

Everything the builder needs is in the info files of ``tools/create_data.py``
(``docs/data_format.md``): per keyframe the LiDAR file, ``lidar2ego``, ``ego2global`` and
the annotation boxes (``bbox_3d`` in the keyframe LiDAR frame with ``instance_token``).
No devkit is loaded.

Box frame: nuScenes annotates boxes upright in the global frame (a rotation about the
global z axis only). The info stores the box in the LiDAR frame with the yaw of its
length axis projected on the LiDAR xy plane; :meth:`KeyFrame.global_boxes` lifts it back
through ``ego2global @ lidar2ego`` and solves for the upright global yaw whose
projection that is, which recovers the annotation's global box exactly (to float
precision). In-box counts in that box equal the annotation's ``num_lidar_pts`` (the
devkit counts in the global frame); counting in the LiDAR-frame info box instead would
tilt the box (by the LiDAR's ~1 degree) into the ground at one end.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..constants import DEFAULT_DATA_PREFIX, resolve_path


@dataclass
class KeyFrame:
    """One keyframe (sample) of a scene, from its info.

    Attributes:
        token: nuScenes sample token.
        timestamp: seconds.
        lidar_path: the raw LIDAR_TOP cloud (root-joined or absolute).
        lidar2ego: 4x4 float64 LiDAR -> ego.
        ego2global: 4x4 float64 ego -> global (at the LiDAR timestamp).
        boxes: (M, 7) float64 ``(x, y, z, l, w, h, yaw)`` in this keyframe's LiDAR frame.
        instance_tokens: (M,) nuScenes instance (track) tokens of the boxes.
        num_lidar_pts: (M,) int64 annotation point counts (-1 where unknown).
    """
    token: str
    timestamp: float
    lidar_path: str
    lidar2ego: np.ndarray
    ego2global: np.ndarray
    boxes: np.ndarray
    instance_tokens: tuple = ()
    num_lidar_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self):
        self.lidar2ego = np.asarray(self.lidar2ego, dtype=np.float64)
        self.ego2global = np.asarray(self.ego2global, dtype=np.float64)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 7)
        self.instance_tokens = tuple(self.instance_tokens)
        if len(self.instance_tokens) != len(self.boxes):
            raise ValueError(f'sample {self.token}: {len(self.boxes)} boxes but '
                             f'{len(self.instance_tokens)} instance tokens')
        if len(self.num_lidar_pts) != len(self.boxes):
            self.num_lidar_pts = np.full(len(self.boxes), -1, dtype=np.int64)
        self.num_lidar_pts = np.asarray(self.num_lidar_pts, dtype=np.int64)

    @property
    def lidar2global(self) -> np.ndarray:
        """4x4 LiDAR -> ego -> global."""
        return self.ego2global @ self.lidar2ego

    def global_boxes(self) -> np.ndarray:
        """(M, 7) upright boxes ``(x, y, z, l, w, h, yaw)`` in the global frame (module doc)."""
        return lidar_boxes_to_upright_global(self.boxes, self.lidar2global)


@dataclass
class SceneFrames:
    """The keyframes of one scene, in time order, and where they sit in their info file."""
    scene_token: str
    name: str
    frames: list
    info_indices: list


def lidar_boxes_to_upright_global(boxes: np.ndarray, lidar2global: np.ndarray) -> np.ndarray:
    """LiDAR-frame boxes (M, 7+) -> upright global boxes (M, 7) ``(x, y, z, l, w, h, yaw)``.

    Inverts :func:`perception_kd.structures.global_to_lidar_boxes` for boxes that are
    upright in the global frame (nuScenes annotations are): centres are transformed,
    the global yaw is the one whose length axis projects on the LiDAR xy plane along
    the LiDAR yaw. Yaw in [-pi, pi].
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] < 7:
        raise ValueError(f'boxes must have shape (M, >=7) as (x, y, z, l, w, h, yaw, ...), '
                         f'got {boxes.shape}')
    rot, trans = lidar2global[:3, :3], lidar2global[:3, 3]
    out = np.zeros((len(boxes), 7))
    if len(boxes) == 0:
        return out
    out[:, :3] = boxes[:, :3] @ rot.T + trans
    out[:, 3:6] = boxes[:, 3:6]
    # The info yaw is the direction of the box's length axis projected on the LiDAR xy
    # plane, so that axis lies in the plane spanned by LiDAR z and the yaw direction:
    # it is the upright (global-horizontal) direction orthogonal to the plane's normal.
    cos, sin, zeros = np.cos(boxes[:, 6]), np.sin(boxes[:, 6]), np.zeros(len(boxes))
    normal = np.stack([-sin, cos, zeros], 1) @ rot.T        # in the global frame
    yaw = np.arctan2(-normal[:, 0], normal[:, 1])
    along = np.stack([cos, sin, zeros], 1) @ rot.T
    backwards = np.cos(yaw) * along[:, 0] + np.sin(yaw) * along[:, 1] < 0
    out[:, 6] = np.where(backwards, yaw + np.pi, yaw)
    out[:, 6] = np.arctan2(np.sin(out[:, 6]), np.cos(out[:, 6]))
    return out


def scenes_from_infos(data_list: Sequence[dict], root: str, info_path: str = '<infos>',
                      scene_names: dict | None = None,
                      pts_prefix: str = DEFAULT_DATA_PREFIX['pts']) -> list:
    """Group the infos of a ``data_list`` by scene -> list of :class:`SceneFrames`.

    Scenes keep their order of first appearance; keyframes are sorted by time. Bare
    ``lidar_path`` file names are joined to ``root/pts_prefix`` (the dataset's rule).

    Args:
        data_list: infos (``docs/data_format.md``); need ``scene_token``, ``token``,
            ``timestamp``, ``lidar_points`` and ``instances`` with ``instance_token``.
        root: nuScenes root the paths are relative to.
        info_path: the file they came from (for error messages).
        scene_names: optional ``{scene token: name}``.
    """
    scenes: dict = {}
    prefix = osp.join(root, pts_prefix)
    for idx, info in enumerate(data_list):
        missing = [key for key in ('scene_token', 'token', 'lidar_points', 'ego2global')
                   if key not in info]
        if missing:
            raise KeyError(f'info {idx} of {info_path} has no {missing}; OCFs need the info '
                           'files of tools/create_data.py (rebuild them)')
        instances = info.get('instances') or []
        tokens = [inst.get('instance_token') for inst in instances]
        if any(token is None for token in tokens):
            raise KeyError(f'sample {info["token"]} in {info_path} has instances without '
                           '`instance_token` (mmdet3d-made infos?); rebuild the info files with '
                           'tools/create_data.py')
        lidar = info['lidar_points']
        frame = KeyFrame(
            token=info['token'], timestamp=float(info.get('timestamp', 0.0)),
            lidar_path=resolve_path(lidar['lidar_path'], root, prefix),
            lidar2ego=lidar['lidar2ego'], ego2global=info['ego2global'],
            boxes=np.asarray([inst['bbox_3d'][:7] for inst in instances],
                             dtype=np.float64).reshape(-1, 7),
            instance_tokens=tokens,
            num_lidar_pts=np.asarray([inst.get('num_lidar_pts', -1) for inst in instances],
                                     dtype=np.int64))
        scene = scenes.setdefault(info['scene_token'], ([], []))
        scene[0].append(frame)
        scene[1].append(idx)
    out = []
    for token, (frames, indices) in scenes.items():
        order = np.argsort([frame.timestamp for frame in frames], kind='stable')
        out.append(SceneFrames(token, (scene_names or {}).get(token, token),
                               [frames[i] for i in order], [indices[i] for i in order]))
    return out


