"""Write a simulated world as a nuScenes-format tree: all 13 tables, files, maps, lidarseg.

One worker process per scene casts the LiDAR sweeps, renders the keyframe images and
returns its table records; the main process merges them and writes the tables last
(atomically), so an interrupted run never leaves a tree the devkit would load.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from nuscenes.utils import splits
from nuscenes.utils.data_classes import Box, LidarPointCloud
from nuscenes.utils.geometry_utils import points_in_box
from PIL import Image
from pyquaternion import Quaternion
from tqdm import tqdm

from ...structures.transforms import matrix_to_quat, yaw_to_quat
from ..io import image_map_path, write_atomic
from .camera import CAMERAS, Rasteriser
from .catalog import ATTRIBUTES, LIDARSEG_INDEX, LIDARSEG_NAMES, VISIBILITY_LEVELS, visibility_token
from .image_maps import image_maps
from .lidar import LidarModel, cast_rays, lidar2ego_transform

TABLES = ('attribute', 'calibrated_sensor', 'category', 'ego_pose', 'instance', 'log', 'map',
          'sample', 'sample_annotation', 'sample_data', 'scene', 'sensor', 'visibility')
RADARS = ('RADAR_FRONT', 'RADAR_FRONT_LEFT', 'RADAR_FRONT_RIGHT', 'RADAR_BACK_LEFT',
          'RADAR_BACK_RIGHT')
LOCATIONS = ('singapore-onenorth', 'boston-seaport', 'singapore-queenstown',
             'singapore-hollandvillage')
BASE_TIMESTAMP_US = 1533151603547590       # 2018-08-01, as the real logs
ANNOTATION_RANGE = 60.0                    # metres (BEV) from the ego
CAMERA_OFFSETS_MS = (-20.0, -12.0, -4.0, 4.0, 12.0, 20.0)  # cameras fire as the LiDAR sweeps past
#: Folders of the per-image maps (``image_maps``); ``superpixels`` also holds SLIC maps, which
#: an overwrite removes with the images they were computed from.
IMAGE_MAP_FOLDERS = ('superpixels', 'semantic2d')
RENDER_SEGMENTS, SEMANTIC2D = 'superpixels/render', 'semantic2d'


@dataclass
class SyntheticConfig:
    """Options of the generator (``tools/make_synthetic.py`` exposes each of them)."""
    out: str = 'data/nuscenes'
    version: str = 'v1.0-mini'
    scenes: int | None = None           # default: all 10 mini scenes / 10 trainval scenes
    val_scenes: int | None = None       # trainval: how many of them are val (default 1 in 5)
    keyframes: int = 20                    # per scene, at 2 Hz
    lidar_hz: int = 10                     # sweeps per second (a multiple of 2)
    image_size: tuple[int, int] = (800, 450)
    seed: int = 0
    workers: int = 2
    beams: int = 32
    azimuth_steps: int = 1084
    lidarseg: bool = True
    image_maps: bool = True                # superpixels/render + semantic2d PNGs
    overwrite: bool = False

    def validate(self):
        if self.version not in ('v1.0-mini', 'v1.0-trainval'):
            raise ValueError(
                f"version must be 'v1.0-mini' or 'v1.0-trainval', got {self.version!r}"
            )
        if self.lidar_hz < 2 or self.lidar_hz % 2:
            raise ValueError(
                f'lidar_hz must be an even number >= 2 (keyframes are at 2 Hz), got {self.lidar_hz}'
            )
        if self.keyframes < 2:
            raise ValueError(f'keyframes must be >= 2, got {self.keyframes}')
        width, height = self.image_size
        if width < 32 or height < 32:
            raise ValueError(f'image_size too small: {self.image_size}')


def scene_names(version: str, count: int | None, val_count: int | None = None) -> list[str]:
    """Real scene names so the devkit's splits apply: every N >= 2 includes a val scene.

    ``val_count`` (trainval only) sets how many of the ``count`` scenes are val scenes
    (the first names of the devkit's train and val lists; train scenes first), e.g. a
    benchmark world whose val split is as large as its train split."""
    if val_count is not None:
        if version != 'v1.0-trainval':
            raise ValueError(f'val_scenes applies to v1.0-trainval only, not {version}')
        count = 10 if count is None else count
        if not 1 <= val_count < count:
            raise ValueError(f'val_scenes must be in [1, scenes - 1] = [1, {count - 1}], '
                             f'got {val_count}')
        if count - val_count > len(splits.train) or val_count > len(splits.val):
            raise ValueError(f'{version} has {len(splits.train)} train and {len(splits.val)} '
                             f'val scene names; asked for {count - val_count} and {val_count}')
        return list(splits.train[:count - val_count]) + list(splits.val[:val_count])
    if version == 'v1.0-mini':
        names = sorted(splits.mini_train + splits.mini_val)
    else:
        train, val = list(splits.train), list(splits.val)
        names = []
        while train or val:      # 4 train : 1 val, as the real split
            names += [train.pop(0) for _ in range(min(4, len(train)))]
            if val:
                names.insert(len(names) - 3 if len(names) > 3 else len(names), val.pop(0))
    count = 10 if count is None else count
    if not 1 <= count <= len(names):
        raise ValueError(f'{version} has {len(names)} scene names; asked for {count} scenes')
    return names[:count]


class Tokens:
    """Deterministic 32-hex-digit tokens from a seed and a name."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, *parts) -> str:
        key = ':'.join(str(p) for p in (self.seed,) + parts)
        return hashlib.md5(key.encode()).hexdigest()


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def static_tables(cfg: SyntheticConfig) -> dict[str, list[dict]]:
    """Tables that do not depend on the scenes: category, attribute, visibility, sensor."""
    tok = Tokens(cfg.seed)
    categories = [dict(token=tok('category', name), name=name, description=f'{name} (synthetic)',
                       index=i) for i, name in enumerate(LIDARSEG_NAMES)]
    attributes = [dict(token=tok('attribute', name), name=name, description=name)
                  for name in ATTRIBUTES]
    visibility = [
        dict(token=t, level=level, description=desc) for t, level, desc in VISIBILITY_LEVELS
    ]
    sensors = [dict(token=tok('sensor', 'LIDAR_TOP'), channel='LIDAR_TOP', modality='lidar')]
    sensors += [
        dict(token=tok('sensor', c.channel), channel=c.channel, modality='camera') for c in CAMERAS
    ]
    sensors += [dict(token=tok('sensor', r), channel=r, modality='radar') for r in RADARS]
    return dict(category=categories, attribute=attributes, visibility=visibility, sensor=sensors)


def generate_scene(cfg: SyntheticConfig, index: int, name: str) -> dict[str, list[dict]]:
    """Simulate one scene, write its files under ``cfg.out`` and return its table records."""
    from .world import build_world

    rng = np.random.default_rng([cfg.seed, index])
    tok = Tokens(cfg.seed)
    per_key = cfg.lidar_hz // 2
    n_frames = (cfg.keyframes - 1) * per_key + 1
    world = build_world(rng, (n_frames - 1) / cfg.lidar_hz + 1.0, LIDARSEG_INDEX)
    location = LOCATIONS[index % len(LOCATIONS)]
    start_us = BASE_TIMESTAMP_US + index * 3_600_000_000 + int(rng.integers(0, 1_000_000))
    vehicle = 'n008' if location.startswith('boston') else 'n015'
    log_name = time.strftime(f'{vehicle}-%Y-%m-%d-%H-%M-%S', time.gmtime(start_us / 1e6)) + \
        ('-0400' if vehicle == 'n008' else '+0800')
    rec: dict[str, list[dict]] = {t: [] for t in TABLES + ('lidarseg',)}
    log_token, scene_token = tok('log', index), tok('scene', index)
    rec['log'].append(dict(token=log_token, logfile=log_name, vehicle=vehicle,
                           date_captured=log_name[5:15], location=location))

    # Calibrations.
    lidar2ego = lidar2ego_transform()
    lidar_cs = dict(token=tok('cs', index, 'LIDAR_TOP'), sensor_token=tok('sensor', 'LIDAR_TOP'),
                    translation=_floats(lidar2ego[:3, 3]),
                    rotation=_floats(matrix_to_quat(lidar2ego[:3, :3])), camera_intrinsic=[])
    rec['calibrated_sensor'].append(lidar_cs)
    width, height = cfg.image_size
    rasterisers, cam_cs = [], []
    for spec in CAMERAS:
        ras = Rasteriser(spec, width, height)
        rasterisers.append(ras)
        cs = dict(token=tok('cs', index, spec.channel), sensor_token=tok('sensor', spec.channel),
                  translation=_floats(ras.cam2ego[:3, 3]),
                  rotation=_floats(matrix_to_quat(ras.cam2ego[:3, :3])),
                  camera_intrinsic=[_floats(row) for row in ras.K])
        cam_cs.append(cs)
        rec['calibrated_sensor'].append(cs)

    model = LidarModel(beams=cfg.beams, azimuth_steps=cfg.azimuth_steps)
    directions = model.directions()
    sample_tokens = [tok('sample', index, k) for k in range(cfg.keyframes)]
    chains: dict[str, list[dict]] = {'LIDAR_TOP': []}
    ann_by_track: dict[int, list[dict]] = {}
    cat_tok = {c: tok('category', c) for c in LIDARSEG_NAMES}
    attr_tok = {a: tok('attribute', a) for a in ATTRIBUTES}

    def ego_pose_record(kind, ts, t):
        pose = world.ego_pose(t)
        record = dict(
            token=tok('ego_pose', index, kind, ts),
            timestamp=ts,
            rotation=_floats(matrix_to_quat(pose[:3, :3])),
            translation=_floats(pose[:3, 3]),
        )
        rec['ego_pose'].append(record)
        return record

    for frame in range(n_frames):
        t = frame / cfg.lidar_hz
        ts = start_us + int(round(t * 1e6))
        key, is_key = divmod(frame, per_key)
        is_key = is_key == 0
        pose_rec = ego_pose_record('LIDAR_TOP', ts, t)
        lidar2global = world.ego_pose(t) @ lidar2ego
        prims = world.primitives(t)
        sweep = cast_rays(model, prims, lidar2global, world, rng, directions)
        folder = 'samples' if is_key else 'sweeps'
        filename = f'{folder}/LIDAR_TOP/{log_name}__LIDAR_TOP__{ts}.pcd.bin'
        _write_bytes(os.path.join(cfg.out, filename), sweep.points.tobytes())
        sd = dict(
            token=tok('sample_data', index, 'LIDAR_TOP', frame),
            sample_token=sample_tokens[key if is_key else key + 1],
            ego_pose_token=pose_rec['token'],
            calibrated_sensor_token=lidar_cs['token'],
            timestamp=ts,
            fileformat='pcd',
            is_key_frame=is_key,
            height=0,
            width=0,
            filename=filename,
            prev='',
            next='',
        )
        chains['LIDAR_TOP'].append(sd)
        if not is_key:
            continue
        rec['sample'].append(dict(token=sample_tokens[key], timestamp=ts, prev='', next='',
                                  scene_token=scene_token))
        if cfg.lidarseg:
            seg_file = f'lidarseg/{cfg.version}/{sd["token"]}_lidarseg.bin'
            _write_bytes(os.path.join(cfg.out, seg_file), sweep.seg.astype(np.uint8).tobytes())
            rec['lidarseg'].append(dict(token=sd['token'], sample_data_token=sd['token'],
                                        filename=seg_file))
        for spec, ras, cs, offset in zip(CAMERAS, rasterisers, cam_cs, CAMERA_OFFSETS_MS):
            t_cam = t + offset / 1000.0
            ts_cam = ts + int(round(offset * 1000))
            cam_pose = ego_pose_record(spec.channel, ts_cam, t_cam)
            cam_ego2global = world.ego_pose(t_cam)
            cam_prims = world.primitives(t_cam)
            rgb, ids = ras.render(world, t_cam, cam_ego2global, cam_prims,
                                  with_ids=cfg.image_maps)
            filename = f'samples/{spec.channel}/{log_name}__{spec.channel}__{ts_cam}.jpg'
            _write_jpeg(os.path.join(cfg.out, filename), rgb)
            if cfg.image_maps:
                write_image_maps(cfg.out, os.path.join(cfg.out, filename),
                                 *image_maps(ras, world, cam_ego2global, cam_prims, ids))
            chains.setdefault(spec.channel, []).append(
                dict(
                    token=tok('sample_data', index, spec.channel, frame),
                    sample_token=sample_tokens[key],
                    ego_pose_token=cam_pose['token'],
                    calibrated_sensor_token=cs['token'],
                    timestamp=ts_cam,
                    fileformat='jpg',
                    is_key_frame=True,
                    height=height,
                    width=width,
                    filename=filename,
                    prev='',
                    next='',
                )
            )
        _annotate(world, t, sweep, pose_rec, lidar_cs, sample_tokens[key], tok, index, key,
                  cat_tok, attr_tok, ann_by_track, rec)

    for records in chains.values():
        _link(records)
        rec['sample_data'] += records
    _link(rec['sample'])
    for track_id, anns in sorted(ann_by_track.items()):
        _link(anns)
        track = world.tracks[track_id]
        rec['instance'].append(
            dict(
                token=tok('instance', index, track_id),
                category_token=cat_tok[track.cls.category],
                nbr_annotations=len(anns),
                first_annotation_token=anns[0]['token'],
                last_annotation_token=anns[-1]['token'],
            )
        )
    rec['sample_annotation'].sort(key=lambda a: (a['sample_token'] != '', a['token']))
    rec['scene'].append(
        dict(
            token=scene_token,
            log_token=log_token,
            nbr_samples=cfg.keyframes,
            first_sample_token=sample_tokens[0],
            last_sample_token=sample_tokens[-1],
            name=name,
            description=f'synthetic {location}, seed {cfg.seed}',
        )
    )
    return rec


def _annotate(world, t, sweep, pose_rec, lidar_cs, sample_token, tok, index, key, cat_tok, attr_tok,
              ann_by_track, rec):
    """Annotations of one keyframe; num_lidar_pts counted exactly as the devkit counts them."""
    boxes = world.boxes(t)
    ego_xy = np.asarray(pose_rec['translation'][:2])
    near = np.nonzero(np.linalg.norm(boxes[:, :2] - ego_xy, axis=1) <= ANNOTATION_RANGE)[0]
    cloud = LidarPointCloud(sweep.points[:, :4].T.copy())
    cloud.rotate(Quaternion(lidar_cs['rotation']).rotation_matrix)
    cloud.translate(np.array(lidar_cs['translation']))
    cloud.rotate(Quaternion(pose_rec['rotation']).rotation_matrix)
    cloud.translate(np.array(pose_rec['translation']))
    visible_counts = np.bincount(sweep.owner[sweep.owner >= 0], minlength=len(world.tracks))
    for track_id in near:
        track = world.tracks[track_id]
        x, y, z, l, w, h, yaw = boxes[track_id, :7]
        ann = dict(
            token=tok('sample_annotation', index, key, int(track_id)),
            sample_token=sample_token,
            instance_token=tok('instance', index, int(track_id)),
            visibility_token='1',
            attribute_tokens=[attr_tok[track.attribute]] if track.attribute else [],
            translation=_floats([x, y, z]),
            size=_floats([w, l, h]),
            rotation=_floats(yaw_to_quat(yaw)),
            prev='',
            next='',
            num_lidar_pts=0,
            num_radar_pts=0,
        )
        box = Box(ann['translation'], ann['size'], Quaternion(ann['rotation']))
        ann['num_lidar_pts'] = int(points_in_box(box, cloud.points[:3]).sum())
        alone = sweep.alone_hits.get(int(track_id), 0)
        fraction = visible_counts[track_id] / (alone * (1 - 0.03)) if alone else 0.0
        ann['visibility_token'] = visibility_token(min(fraction, 1.0))
        rec['sample_annotation'].append(ann)
        ann_by_track.setdefault(int(track_id), []).append(ann)


def _link(records: list[dict]):
    for prev, nxt in zip(records[:-1], records[1:]):
        prev['next'], nxt['prev'] = nxt['token'], prev['token']


def _write_bytes(path: str, data: bytes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def _write_jpeg(path: str, rgb: np.ndarray):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rgb).save(path, quality=92)


def write_image_maps(root: str, img_path: str, segments: np.ndarray, semantics: np.ndarray):
    """Write the segment (uint16) and semantic (uint8) PNGs of image ``img_path`` atomically."""
    import cv2
    for folder, data in ((RENDER_SEGMENTS, segments), (SEMANTIC2D, semantics)):
        ok, png = cv2.imencode('.png', data)
        if not ok:
            raise ValueError(f'could not encode the {folder} map of {img_path}')
        write_atomic(image_map_path(img_path, root, folder), lambda f, b=png: f.write(b.tobytes()))


def _write_json(path: str, records):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(records, f, indent=1)
    os.replace(tmp, path)


def _map_png(path: str):
    """A small semantic-prior map image (the synthetic world has no global map layout)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((64, 64), 255, dtype=np.uint8)).save(path)


def _scene_job(args):
    cfg, index, name = args
    return index, generate_scene(cfg, index, name)


def generate_dataset(cfg: SyntheticConfig, progress: bool = True) -> dict[str, int]:
    """Write the whole synthetic tree; returns counts (scenes, samples, annotations, ...).

    Refuses to write over an existing ``<out>/<version>`` unless ``cfg.overwrite``.
    """
    cfg.validate()
    table_dir = os.path.join(cfg.out, cfg.version)
    if os.path.exists(table_dir):
        if not cfg.overwrite:
            raise FileExistsError(f'{table_dir} already exists; pass --overwrite to regenerate it '
                                  'or choose another --out')
        for sub in ('samples', 'sweeps', os.path.join('lidarseg', cfg.version), cfg.version,
                    *IMAGE_MAP_FOLDERS):
            shutil.rmtree(os.path.join(cfg.out, sub), ignore_errors=True)
    os.makedirs(cfg.out, exist_ok=True)
    names = scene_names(cfg.version, cfg.scenes, cfg.val_scenes)
    jobs = [(cfg, i, name) for i, name in enumerate(names)]
    results: dict[int, dict] = {}
    bar = tqdm(total=len(jobs), desc='synthetic scenes', unit='scene', disable=not progress)
    if cfg.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(jobs))) as pool:
            for index, rec in pool.map(_scene_job, jobs):
                results[index] = rec
                bar.update()
    else:
        for job in jobs:
            index, rec = _scene_job(job)
            results[index] = rec
            bar.update()
    bar.close()

    tables = {t: [] for t in TABLES + ('lidarseg',)}
    for index in sorted(results):
        for table, records in results[index].items():
            tables[table] += records
    tables.update(static_tables(cfg))
    tok = Tokens(cfg.seed)
    for location in LOCATIONS:
        logs = [log['token'] for log in tables['log'] if log['location'] == location]
        if logs:
            token = tok('map', location)
            tables['map'].append(dict(token=token, log_tokens=logs, category='semantic_prior',
                                      filename=f'maps/{token}.png'))
            _map_png(os.path.join(cfg.out, 'maps', f'{token}.png'))
    staging = table_dir + '.partial'
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    for table in TABLES:
        _write_json(os.path.join(staging, f'{table}.json'), tables[table])
    if cfg.lidarseg:
        _write_json(os.path.join(staging, 'lidarseg.json'), tables['lidarseg'])
    os.replace(staging, table_dir)
    with open(os.path.join(cfg.out, 'synthetic_config.json'), 'w') as f:
        options = {k: v for k, v in asdict(cfg).items() if k not in ('out', 'overwrite', 'workers')}
        json.dump(options, f, indent=1)
    return dict(
        scenes=len(names),
        samples=len(tables['sample']),
        sample_data=len(tables['sample_data']),
        annotations=len(tables['sample_annotation']),
        instances=len(tables['instance']),
    )


def load_config(root: str) -> SyntheticConfig:
    """The generator options a synthetic root was written with (``synthetic_config.json``)."""
    path = os.path.join(root, 'synthetic_config.json')
    if not os.path.exists(path):
        raise FileNotFoundError(
            f'{path} not found: {root} was not written by tools/make_synthetic.py'
        )
    with open(path) as f:
        values = json.load(f)
    values['image_size'] = tuple(values['image_size'])
    values.setdefault('image_maps', False)     # roots written before the option have none
    return SyntheticConfig(out=root, **values)


def replay_world(root: str, scene_index: int):
    """Rebuild the :class:`World` of scene ``scene_index`` of a synthetic root (for tests,
    exact instance maps and superpixels). Track ``i`` is instance token
    ``Tokens(seed)('instance', scene_index, i)``."""
    from .world import build_world
    cfg = load_config(root)
    n_frames = (cfg.keyframes - 1) * (cfg.lidar_hz // 2) + 1
    return build_world(np.random.default_rng([cfg.seed, scene_index]),
                       (n_frames - 1) / cfg.lidar_hz + 1.0, LIDARSEG_INDEX)
