"""nuScenes root -> info files ``<prefix>_infos_<split>.pkl`` (layout: ``docs/data_format.md``).

Works on any nuScenes-format root (real ``v1.0-mini`` / ``v1.0-trainval`` / ``v1.0-test``
or the synthetic one) through the unmodified nuscenes-devkit; nothing here knows where
the data came from.

Frames: every matrix is a 4x4 ``A2B`` (points in A -> B) stored as nested float lists.
Boxes are ``(x, y, z, l, w, h, yaw)`` in the keyframe LIDAR_TOP frame (geometric centre),
velocities ``(vx, vy)`` rotated into that frame (nan when the devkit cannot estimate them).
``attr_label`` indexes ``nuscenes.eval.detection.constants.ATTRIBUTE_NAMES``
(-1: no attribute); ``bbox_label_3d`` indexes :data:`~perception_kd.datasets.nuscenes.CLASSES`
(-1: not a detection class).
"""
from __future__ import annotations

import os
import os.path as osp
import warnings

import numpy as np

from ..constants import CAMERAS, CLASSES
from ..structures import GlobalBoxes, global_to_lidar_boxes, invert, record_to_transform
from .io import dump_atomic

# version -> {output split: devkit split name}
SPLITS = {
    'v1.0-mini': {'train': 'mini_train', 'val': 'mini_val'},
    'v1.0-trainval': {'train': 'train', 'val': 'val'},
    'v1.0-test': {'test': 'test'},
}
INFO_VERSION = '1.1'


def create_nuscenes_infos(root: str, version: str = 'v1.0-mini', out_dir: str | None = None,
                          prefix: str = 'nuscenes', max_sweeps: int = 10,
                          progress: bool = True) -> dict:
    """Build the info files of a nuScenes root, one per split of ``version``.

    Args:
        root: nuScenes root (holding ``<version>/`` with the tables, ``samples/``, ...).
        version: ``v1.0-mini`` (-> train/val), ``v1.0-trainval`` (-> train/val) or
            ``v1.0-test`` (-> test, without instances).
        out_dir: where to write (default: ``root``).
        prefix: file name prefix.
        max_sweeps: LIDAR_TOP sweeps stored per keyframe (nearest first).
        progress: show a tqdm progress bar.

    Returns:
        ``{split: path}`` of the files written (atomically).
    """
    if max_sweeps < 0:
        raise ValueError(f'max_sweeps must be >= 0, got {max_sweeps}')
    nusc = load_nuscenes(root, version)
    splits = split_scene_tokens(nusc, version)
    out_dir = root if out_dir is None else out_dir
    os.makedirs(out_dir, exist_ok=True)
    metainfo = dict(categories={name: i for i, name in enumerate(CLASSES)}, dataset='nuscenes',
                    version=version, info_version=INFO_VERSION, data_root=str(root))
    lidarseg = {rec['sample_data_token']: rec['filename'] for rec in getattr(nusc, 'lidarseg', [])}

    from tqdm import tqdm
    total = sum(nusc.get('scene', t)['nbr_samples'] for tokens in splits.values() for t in tokens)
    paths = {}
    with tqdm(total=total, desc=f'infos {version}', unit='sample', disable=not progress) as bar:
        for split, scene_tokens in splits.items():
            data_list = build_infos(nusc, scene_tokens, max_sweeps=max_sweeps,
                                    with_annotations=split != 'test', lidarseg=lidarseg,
                                    on_sample=bar.update)
            path = osp.join(out_dir, f'{prefix}_infos_{split}.pkl')
            dump_atomic(dict(metainfo=metainfo, data_list=data_list), path)
            paths[split] = path
    return paths


def load_nuscenes(root: str, version: str):
    """The devkit's ``NuScenes`` over ``root``, with clear errors for a wrong root/version."""
    check_nuscenes_root(root, version)
    from nuscenes.nuscenes import NuScenes
    return NuScenes(version=version, dataroot=root, verbose=False)


def check_nuscenes_root(root: str, version: str) -> str:
    """Check that ``root/version`` holds nuScenes tables; return the table folder.

    Raises ValueError for an unknown version and FileNotFoundError (saying what to do)
    for a missing root or version folder. Loads nothing.
    """
    if version not in SPLITS:
        raise ValueError(f'unknown nuScenes version {version!r}; expected one of {sorted(SPLITS)}')
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'nuScenes root {root} does not exist; create a synthetic one with '
            f'`python tools/make_synthetic.py --out {root}` or download nuScenes '
            '(https://www.nuscenes.org/download) and pass its folder')
    table_dir = osp.join(root, version)
    if not osp.isdir(table_dir):
        found = sorted(name for name in os.listdir(root)
                       if osp.isfile(osp.join(root, name, 'scene.json')))
        raise FileNotFoundError(
            f'nuScenes version folder {table_dir} not found; versions found in {root}: '
            f'{found or "none"}. Pass --version with one of them')
    return table_dir


def split_scene_tokens(nusc, version: str) -> dict:
    """``{split: [scene tokens]}`` from the devkit's split lists, scenes in table order.

    Scenes of the tree that belong to no split of ``version`` are skipped with a warning.
    """
    from nuscenes.utils.splits import create_splits_scenes
    names = create_splits_scenes()
    out, used = {}, set()
    for split, devkit_split in SPLITS[version].items():
        wanted = set(names[devkit_split])
        out[split] = [scene['token'] for scene in nusc.scene if scene['name'] in wanted]
        used.update(out[split])
        if not out[split]:
            warnings.warn(f'no scene of split {devkit_split!r} in {nusc.dataroot}/{version}; '
                          f'the {split} info file will be empty', stacklevel=2)
    unused = [scene['name'] for scene in nusc.scene if scene['token'] not in used]
    if unused:
        warnings.warn(f'{len(unused)} scenes of {version} are in no split and are skipped: '
                      f'{unused[:5]}{" ..." if len(unused) > 5 else ""}', stacklevel=2)
    return out


def build_infos(nusc, scene_tokens, max_sweeps: int = 10, with_annotations: bool = True,
                lidarseg: dict | None = None, on_sample=None) -> list:
    """Infos of all keyframes of the given scenes, ordered by scene then time."""
    data_list = []
    for scene_token in scene_tokens:
        scene = nusc.get('scene', scene_token)
        start = len(data_list)
        token = scene['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            info = sample_info(nusc, sample, max_sweeps, with_annotations, lidarseg or {})
            idx = len(data_list)
            info.update(sample_idx=idx, prev=idx - 1 if idx > start else -1, next=-1)
            if idx > start:
                data_list[-1]['next'] = idx
            data_list.append(info)
            token = sample['next']
            if on_sample is not None:
                on_sample(1)
    return data_list


def sample_info(nusc, sample: dict, max_sweeps: int, with_annotations: bool,
                lidarseg: dict) -> dict:
    """The info of one keyframe (``prev``/``next``/``sample_idx`` are set by the caller)."""
    if 'LIDAR_TOP' not in sample['data']:
        raise KeyError(f'sample {sample["token"]} has no LIDAR_TOP sample_data')
    lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    lidar2ego, ego2global = _sensor_poses(nusc, lidar_sd)
    lidar2global = ego2global @ lidar2ego
    info = dict(
        sample_idx=-1, token=sample['token'], timestamp=sample['timestamp'] / 1e6,
        scene_token=sample['scene_token'], prev=-1, next=-1, ego2global=ego2global.tolist(),
        lidar_points=dict(num_pts_feats=5, lidar_path=osp.basename(lidar_sd['filename']),
                          lidar2ego=lidar2ego.tolist(), sample_data_token=lidar_sd['token']),
        images=camera_infos(nusc, sample, lidar2global),
        instances=instance_infos(nusc, sample, lidar2global) if with_annotations else [],
        lidarseg_path=lidarseg.get(lidar_sd['token']), ocf_path=None)
    sweeps = lidar_sweeps(nusc, lidar_sd, lidar2global, max_sweeps)
    if sweeps:   # none (first keyframe of a scene): no key, as in mmdet3d's infos, so that
        info['lidar_sweeps'] = sweeps   # its LoadPointsFromMultiSweeps pads with the keyframe
    return info


def lidar_sweeps(nusc, lidar_sd: dict, lidar2global: np.ndarray, max_sweeps: int) -> list:
    """Up to ``max_sweeps`` earlier LIDAR_TOP sample_data along ``prev``, nearest first.

    ``lidar2sensor`` = global->sweep-lidar @ keyframe-lidar->global (through both ego poses),
    stored twice: at the sweep's top level (ours) and in its ``lidar_points``, where
    mmdet3d's ``LoadPointsFromMultiSweeps`` reads it.
    """
    sweeps = []
    current = lidar_sd
    while len(sweeps) < max_sweeps and current['prev']:
        current = nusc.get('sample_data', current['prev'])
        sweep2ego, sweep_ego2global = _sensor_poses(nusc, current)
        lidar2sensor = invert(sweep_ego2global @ sweep2ego) @ lidar2global
        sweeps.append(dict(
            lidar_points=dict(lidar_path=current['filename'], lidar2ego=sweep2ego.tolist(),
                              lidar2sensor=lidar2sensor.tolist()),
            ego2global=sweep_ego2global.tolist(), timestamp=current['timestamp'] / 1e6,
            sample_data_token=current['token'], lidar2sensor=lidar2sensor.tolist()))
    return sweeps


def camera_infos(nusc, sample: dict, lidar2global: np.ndarray) -> dict:
    """Per camera channel of the sample: file, intrinsics and lidar->camera geometry.

    ``lidar2cam`` = (cam->ego(t_cam)->global)^-1 @ lidar->ego(t_lidar)->global.
    """
    images = {}
    for channel in CAMERAS:
        if channel not in sample['data']:
            continue
        cam_sd = nusc.get('sample_data', sample['data'][channel])
        cam2ego, cam_ego2global = _sensor_poses(nusc, cam_sd)
        intrinsics = nusc.get('calibrated_sensor', cam_sd['calibrated_sensor_token'])
        images[channel] = dict(
            img_path=osp.basename(cam_sd['filename']),
            cam2img=np.asarray(intrinsics['camera_intrinsic'], dtype=np.float64).tolist(),
            lidar2cam=(invert(cam_ego2global @ cam2ego) @ lidar2global).tolist(),
            cam2ego=cam2ego.tolist(), sample_data_token=cam_sd['token'],
            timestamp=cam_sd['timestamp'] / 1e6, height=cam_sd['height'], width=cam_sd['width'])
    return images


def instance_infos(nusc, sample: dict, lidar2global: np.ndarray) -> list:
    """Annotations of the sample as LiDAR-frame instances (see the module docstring)."""
    from nuscenes.eval.detection.constants import ATTRIBUTE_NAMES
    from nuscenes.eval.detection.utils import category_to_detection_name
    anns = [nusc.get('sample_annotation', token) for token in sample['anns']]
    if not anns:
        return []
    gboxes = GlobalBoxes(
        translation=np.array([ann['translation'] for ann in anns], dtype=np.float64),
        size=np.array([ann['size'] for ann in anns], dtype=np.float64),
        rotation=np.array([ann['rotation'] for ann in anns], dtype=np.float64),
        velocity=np.array([nusc.box_velocity(ann['token'])[:2] for ann in anns]))
    boxes = global_to_lidar_boxes(gboxes, lidar2global)  # (N, 9)
    instances = []
    for ann, box in zip(anns, boxes):
        name = category_to_detection_name(ann['category_name'])
        attrs = [nusc.get('attribute', token)['name'] for token in ann['attribute_tokens']]
        num_lidar, num_radar = int(ann['num_lidar_pts']), int(ann['num_radar_pts'])
        instances.append(dict(
            bbox_3d=box[:7].tolist(), bbox_label_3d=CLASSES.index(name) if name in CLASSES else -1,
            velocity=box[7:9].tolist(), num_lidar_pts=num_lidar, num_radar_pts=num_radar,
            bbox_3d_isvalid=num_lidar + num_radar > 0,
            attr_label=ATTRIBUTE_NAMES.index(attrs[0]) if attrs and attrs[0] in ATTRIBUTE_NAMES
            else -1,
            instance_token=ann['instance_token'], token=ann['token']))
    return instances


def _sensor_poses(nusc, sample_data: dict) -> tuple:
    """(sensor2ego, ego2global) 4x4 float64 of a sample_data record (its own timestamp)."""
    calib = nusc.get('calibrated_sensor', sample_data['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sample_data['ego_pose_token'])
    return record_to_transform(calib), record_to_transform(pose)
