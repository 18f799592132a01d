"""What a visualisation needs of one sample, loaded from the info files.

:class:`SampleSource` wraps the samples of an info file (read without torch by
:class:`~perception_kd.datasets.info_parser.InfoFileSamples` from an info file or a config,
or a running test loop's ``NuScenesDataset``) and loads
:class:`SampleData`: the LiDAR cloud (keyframe, optionally with sweeps, through the
dataset's own loading transforms), its lidarseg labels and Object-Complete Frame when the
info has them, the ground truth and the camera geometry. Everything is in the keyframe
LiDAR frame.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..constants import CAMERAS, CLASSES, resolve_path
from ..datasets.info_parser import InfoFileSamples
from ..datasets.transforms.loading import LoadPointsFromFile, LoadPointsFromMultiSweeps, load_points


@dataclass
class CameraView:
    """One camera of a sample: image file, 3x3 intrinsics, 4x4 LiDAR -> camera, image size."""
    name: str
    img_path: str
    cam2img: np.ndarray
    lidar2cam: np.ndarray
    width: int
    height: int


@dataclass
class SampleData:
    """One keyframe for drawing, in the keyframe LiDAR frame.

    points: (N, 5) float32 ``(x, y, z, intensity, time lag s)``, the keyframe's
    ``num_keyframe_points`` points first, then the sweeps; gt_boxes (G, 9) ``(x, y, z, l,
    w, h, yaw, vx, vy)`` and gt_labels (G,) index ``classes``; lidarseg (num_keyframe_points,)
    uint8 or None; ocf_points (M, 5) float32 or None.
    """
    index: int
    token: str
    scene_token: str
    timestamp: float
    points: np.ndarray
    num_keyframe_points: int
    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    lidar2ego: np.ndarray
    ego2global: np.ndarray
    classes: Sequence[str] = CLASSES
    cameras: dict[str, CameraView] = field(default_factory=dict)
    lidarseg: np.ndarray | None = None
    ocf_points: np.ndarray | None = None

    @property
    def lidar2global(self) -> np.ndarray:
        """4x4 keyframe LiDAR -> global."""
        return self.ego2global @ self.lidar2ego


def pad_velocity(boxes) -> np.ndarray:
    """Boxes (N, 7|9) -> float64 (N, 9), zero velocity where it was absent."""
    boxes = np.asarray(boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 9)
    if boxes.shape[1] == 9:
        return boxes
    if boxes.shape[1] != 7:
        raise ValueError(f'boxes must be (N, 7) or (N, 9), got {boxes.shape}')
    return np.concatenate([boxes, np.zeros((len(boxes), 2))], 1)


class SampleSource:
    """Random access to the samples of one info file, for visualisation.

    Args:
        dataset: an ``InfoFileSamples`` or a ``NuScenesDataset`` (any pipeline; only
            ``get_data_info``, ``metainfo``, ``ann_file``, ``data_root`` and ``len`` are used).
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self._tokens: list[str] | None = None
        self._scene_tokens: list[str] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_info_file(cls, ann_file: str, data_root: str | None = None,
                       data_prefix: dict | None = None,
                       classes: Sequence[str] | None = None) -> SampleSource:
        """From an info ``.pkl``; ``data_root`` defaults to the info file's folder."""
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'info file {ann_file} not found; create it with '
                                    '`python tools/create_data.py <nuscenes root> --version ...`')
        root = data_root if data_root is not None else osp.dirname(osp.abspath(ann_file))
        dataset = InfoFileSamples(data_root=root, ann_file=osp.abspath(ann_file),
                                  data_prefix=data_prefix,
                                  modality=dict(use_lidar=True, use_camera=True),
                                  metainfo=dict(classes=tuple(classes or CLASSES)))
        return cls(dataset)

    @classmethod
    def from_config(cls, config, split: str = 'val',
                    data_root: str | None = None) -> SampleSource:
        """From an mmengine config (file name or ``Config``): its ``<split>_dataloader`` dataset."""
        from mmengine.config import Config
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        key = f'{split}_dataloader'
        if key not in cfg:
            raise KeyError(f'config {getattr(cfg, "filename", config)} has no {key}; '
                           'pick another --split')
        ds_cfg = cfg[key]['dataset']
        while 'dataset' in ds_cfg:          # dataset wrappers (repeat, class balancing, ...)
            ds_cfg = ds_cfg['dataset']
        root = data_root if data_root is not None else ds_cfg.get('data_root', '')
        ann_file = ds_cfg['ann_file']
        if not osp.isabs(ann_file):
            ann_file = osp.join(root, ann_file)
        classes = (ds_cfg.get('metainfo') or {}).get('classes')
        return cls.from_info_file(ann_file, root, ds_cfg.get('data_prefix'), classes)

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def classes(self) -> Sequence[str]:
        return tuple(self.dataset.metainfo.get('classes', CLASSES))

    @property
    def ann_file(self) -> str:
        return self.dataset.ann_file

    @property
    def data_root(self) -> str:
        return self.dataset.data_root or ''

    @property
    def version(self) -> str | None:
        return self.dataset.metainfo.get('version')

    def info(self, idx: int) -> dict:
        """The parsed info of sample ``idx`` (paths resolved; see ``NuScenesDataset``)."""
        if not 0 <= idx < len(self):
            raise IndexError(f'sample index {idx} out of range: {self.ann_file} has {len(self)} '
                             'samples')
        return self.dataset.get_data_info(idx)

    def _index_tokens(self) -> None:
        infos = [self.dataset.get_data_info(i) for i in range(len(self))]
        self._tokens = [info['token'] for info in infos]
        self._scene_tokens = [info.get('scene_token', '') for info in infos]

    @property
    def tokens(self) -> list[str]:
        """Sample tokens in info order."""
        if self._tokens is None:
            self._index_tokens()
        return self._tokens

    def index_of_token(self, token: str) -> int:
        """Index of a sample token; KeyError naming the info file if absent."""
        try:
            return self.tokens.index(token)
        except ValueError:
            raise KeyError(f'sample token {token} is not in the info file '
                           f'{self.ann_file}') from None

    def scene_indices(self, scene: str) -> list[int]:
        """Sample indices (in time order) of a scene given by name (``scene-0061``) or token.

        Names are looked up in ``<data_root>/<version>/scene.json``.
        """
        if self._scene_tokens is None:
            self._index_tokens()
        token = scene
        if scene not in self._scene_tokens:
            path = osp.join(self.data_root, self.version or '', 'scene.json')
            if not osp.isfile(path):
                raise FileNotFoundError(f'cannot look up scene {scene!r}: no scene table at '
                                        f'{path}; pass --data-root (the nuScenes root) or a '
                                        'scene token')
            with open(path) as f:
                by_name = {rec['name']: rec['token'] for rec in json.load(f)}
            if scene not in by_name:
                raise KeyError(f'scene {scene!r} is not in {path} (scenes: '
                               f'{", ".join(sorted(by_name)[:12])}...)')
            token = by_name[scene]
        indices = [i for i, tok in enumerate(self._scene_tokens) if tok == token]
        if not indices:
            raise KeyError(f'scene {scene!r} has no sample in {self.ann_file} (another split?)')
        return indices

    # ------------------------------------------------------------------ loading
    def load(self, idx: int, sweeps: int = 0, lidarseg: bool = False,
             ocf: bool = False) -> SampleData:
        """Load sample ``idx``: the keyframe (+ up to ``sweeps`` sweeps) and, if asked and
        the info has them, its lidarseg labels and OCF cloud (``FileNotFoundError`` if the
        info names a missing file; ``lidarseg=True`` without ``lidarseg_path`` is an error).
        """
        return self.load_info(self.info(idx), sweeps, lidarseg, ocf)

    def load_info(self, info: dict, sweeps: int = 0, lidarseg: bool = False,
                  ocf: bool = False) -> SampleData:
        """Like :meth:`load` for an already parsed info."""
        results = LoadPointsFromFile(load_dim=5, use_dim=5).transform(dict(info))
        num_key = len(results['points'])
        results = LoadPointsFromMultiSweeps(sweeps_num=sweeps, pad_empty_sweeps=False,
                                            test_mode=True).transform(results)
        ann = info['ann_info']
        sample = SampleData(
            index=int(info.get('sample_idx', -1)), token=info['token'],
            scene_token=info.get('scene_token', ''), timestamp=float(info.get('timestamp', 0.0)),
            points=results['points'], num_keyframe_points=num_key,
            gt_boxes=pad_velocity(ann['gt_bboxes_3d']),
            gt_labels=np.asarray(ann['gt_labels_3d'], dtype=np.int64),
            lidar2ego=np.asarray(info['lidar2ego'], dtype=np.float64),
            ego2global=np.asarray(info['ego2global'], dtype=np.float64),
            classes=self.classes, cameras=self._cameras(info))
        if lidarseg:
            sample.lidarseg = self._lidarseg(info, num_key)
        if ocf and info.get('ocf_path') is not None:
            sample.ocf_points = load_points(info['ocf_path'], 5)
        return sample

    def _lidarseg(self, info: dict, num_points: int) -> np.ndarray:
        path = info.get('lidarseg_path')
        if path is None:
            raise KeyError(f'sample {info["token"]} has no lidarseg_path in {self.ann_file}; '
                           'colour by height or intensity instead')
        if not osp.isfile(path):
            raise FileNotFoundError(f'lidarseg file {path} (sample {info["token"]}) not found')
        labels = np.fromfile(path, dtype=np.uint8)
        if len(labels) != num_points:
            raise ValueError(f'lidarseg file {path} has {len(labels)} labels but the keyframe has '
                             f'{num_points} points')
        return labels

    def _cameras(self, info: dict) -> dict[str, CameraView]:
        prefixes = self.dataset.data_prefix
        resolved = self.dataset.modality.get('use_camera', False)
        cams = {}
        for name, cam in (info.get('images') or {}).items():
            path = cam['img_path'] if resolved else \
                resolve_path(cam['img_path'], self.data_root, prefixes.get(name))
            cams[name] = CameraView(
                name=name, img_path=path,
                cam2img=np.asarray(cam['cam2img'], dtype=np.float64)[:3, :3],
                lidar2cam=np.asarray(cam['lidar2cam'], dtype=np.float64),
                width=int(cam.get('width', 0)), height=int(cam.get('height', 0)))
        order = [c for c in CAMERAS if c in cams] + [c for c in cams if c not in CAMERAS]
        return {name: cams[name] for name in order}
