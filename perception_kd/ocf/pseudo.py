"""Pseudo labels for semi-supervised X-Ray: a detector's predictions -> tracks -> OCF boxes.

Unlabelled scenes have no annotated tracks to accumulate, so their Object-Complete Frames
are built from a detector's predictions linked over time (``docs/ocf.md``,
"Semi-supervised"):

1. **Read** a nuScenes detection results JSON (``{'results': {sample token: [box, ...]}}``,
   as ``tools/test.py`` writes it, see :mod:`perception_kd.evaluation.nuscenes_format`):
   per box the global ``translation``, ``size`` (w, l, h), ``rotation`` quaternion
   (w, x, y, z), ``velocity`` (vx, vy), ``detection_name`` and ``detection_score``.
   Boxes scoring below ``score_thr`` are dropped.
2. **Link** the detections of consecutive keyframes of a scene into tracks: same class,
   greedy nearest centre (BEV distance) in the *global* frame, which compensates the ego
   motion; the previous centre is first advanced by its predicted velocity times the
   time step (``use_velocity``). A pair is accepted only within ``link_factor`` times the
   larger of the two boxes' ``max(l, w)``. Unmatched detections start new tracks.
3. **Convert** each box to its keyframe's LiDAR frame exactly as the info files store
   annotations (:func:`perception_kd.structures.global_to_lidar_boxes`: the yaw of the
   length axis projected on the LiDAR xy plane), the inverse of
   :meth:`~perception_kd.ocf.frames.KeyFrame.global_boxes`. The builder then patches the
   keyframes with these boxes and track tokens like annotated ones.

Track (instance) tokens are stable: an md5 hex of the scene token, the sample token and
the index (by score) of the track's first detection.
"""
from __future__ import annotations

import hashlib
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..constants import CLASSES
from ..evaluation.nuscenes_format import load_results, parse_result_boxes
from ..structures import GlobalBoxes, global_to_lidar_boxes
from .frames import SceneFrames

DEFAULT_SCORE_THR = 0.3
DEFAULT_LINK_FACTOR = 2.0


@dataclass
class PseudoLabelOptions:
    """How predictions become pseudo tracks.

    Attributes:
        score_thr: detections scoring below it are dropped.
        link_factor: a detection continues a track of the previous keyframe only if their
            centres (the previous one advanced by its velocity) are at most
            ``link_factor * max(max(l, w) of either box)`` apart in BEV.
        use_velocity: advance the previous centre by its predicted global velocity times
            the time between the keyframes before matching.
    """
    score_thr: float = DEFAULT_SCORE_THR
    link_factor: float = DEFAULT_LINK_FACTOR
    use_velocity: bool = True

    def __post_init__(self):
        if not 0.0 <= self.score_thr <= 1.0:
            raise ValueError(f'score_thr must lie in [0, 1], got {self.score_thr}')
        if self.link_factor <= 0:
            raise ValueError(f'link_factor must be > 0, got {self.link_factor}')

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FrameDetections:
    """The detections of one keyframe, sorted by score (highest first).

    Attributes:
        sample_token: the keyframe's sample token.
        timestamp: seconds.
        translation: (M, 3) float64 box centres in the global frame.
        size: (M, 3) float64 ``(w, l, h)`` (nuScenes order).
        rotation: (M, 4) float64 quaternions ``(w, x, y, z)``, box -> global.
        velocity: (M, 2) float64 global ``(vx, vy)`` m/s (0 where unknown).
        names: (M,) detection names.
        scores: (M,) float64 detection scores.
    """
    sample_token: str
    timestamp: float
    translation: np.ndarray
    size: np.ndarray
    rotation: np.ndarray
    velocity: np.ndarray
    names: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def extent(self) -> np.ndarray:
        """(M,) ``max(l, w)`` of each box."""
        return np.max(self.size[:, :2], axis=1)

    def global_boxes(self) -> GlobalBoxes:
        return GlobalBoxes(self.translation, self.size, self.rotation, self.velocity)

    def lidar_boxes(self, lidar2global: np.ndarray) -> np.ndarray:
        """(M, 9) ``(x, y, z, l, w, h, yaw, vx, vy)`` in the keyframe LiDAR frame, as the
        info files store annotations (inverse of :meth:`KeyFrame.global_boxes`)."""
        return global_to_lidar_boxes(self.global_boxes(), lidar2global)

    @classmethod
    def from_results(cls, boxes: Sequence[Mapping], sample_token: str, timestamp: float,
                     score_thr: float = 0.0, where: str = '<results>') -> FrameDetections:
        """One sample's result boxes -> detections scoring at least ``score_thr``
        (every box is validated by :func:`parse_result_boxes`; unknown velocity -> 0)."""
        gboxes, names, scores = parse_result_boxes(boxes, sample_token, where)
        keep = np.nonzero(scores >= score_thr)[0]
        keep = keep[np.argsort(-scores[keep], kind='stable')]
        return cls(sample_token, float(timestamp), gboxes.translation[keep], gboxes.size[keep],
                   gboxes.rotation[keep], np.nan_to_num(gboxes.velocity[keep], nan=0.0),
                   names[keep], scores[keep])


def match_detections(prev: FrameDetections, cur: FrameDetections,
                     link_factor: float = DEFAULT_LINK_FACTOR,
                     use_velocity: bool = True) -> tuple:
    """Greedy one-to-one matching of two keyframes' detections: ``(rows, cols)`` int64.

    A pair (i of ``prev``, j of ``cur``) is allowed when the names are equal and the BEV
    distance between ``prev``'s centre (advanced by ``velocity * dt`` if ``use_velocity``)
    and ``cur``'s is at most ``link_factor * max(extent_i, extent_j)``; allowed pairs are
    taken nearest first (ties: higher scores first), each detection at most once.
    Centres are compared as given, so give them in one world frame (the global frame).
    """
    if len(prev) == 0 or len(cur) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    centre = prev.translation[:, :2]
    if use_velocity:
        centre = centre + prev.velocity * (cur.timestamp - prev.timestamp)
    dist = np.linalg.norm(centre[:, None, :] - cur.translation[None, :, :2], axis=-1)
    gate = link_factor * np.maximum(prev.extent[:, None], cur.extent[None, :])
    rows, cols = np.nonzero((prev.names[:, None] == cur.names[None, :]) & (dist <= gate))
    order = np.argsort(dist[rows, cols], kind='stable')
    used_rows, used_cols = np.zeros(len(prev), bool), np.zeros(len(cur), bool)
    out_rows, out_cols = [], []
    for r, c in zip(rows[order], cols[order]):       # a scene has few boxes per keyframe
        if not used_rows[r] and not used_cols[c]:
            used_rows[r] = used_cols[c] = True
            out_rows.append(r)
            out_cols.append(c)
    return np.asarray(out_rows, np.int64), np.asarray(out_cols, np.int64)


def link_tracks(frames: Sequence[FrameDetections], link_factor: float = DEFAULT_LINK_FACTOR,
                use_velocity: bool = True) -> list[np.ndarray]:
    """Track index of every detection of time-ordered keyframes (consecutive keyframes are
    matched with :func:`match_detections`; unmatched detections start new tracks).

    Returns:
        One (M_t,) int64 array per keyframe; tracks are numbered 0, 1, ... in order of
        their first detection (keyframe, then score).
    """
    out: list[np.ndarray] = []
    next_id = 0
    for t, cur in enumerate(frames):
        ids = np.full(len(cur), -1, dtype=np.int64)
        if t > 0:
            rows, cols = match_detections(frames[t - 1], cur, link_factor, use_velocity)
            ids[cols] = out[-1][rows]
        new = np.nonzero(ids < 0)[0]
        ids[new] = np.arange(next_id, next_id + len(new))
        next_id += len(new)
        out.append(ids)
    return out


def _token(*parts) -> str:
    return hashlib.md5('/'.join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class PseudoScene:
    """A scene whose keyframes carry pseudo tracks instead of annotations.

    Attributes:
        scene: the :class:`SceneFrames` with each keyframe's boxes (LiDAR frame) and track
            tokens replaced by the pseudo ones (``num_lidar_pts`` unknown: -1).
        instances: ``{sample token: [instance dict, ...]}``: the pseudo boxes with the fields
            of an info's ``instances`` (``bbox_3d``, ``bbox_label_3d``, ``velocity``,
            ``instance_token`` ...) plus ``detection_name`` and ``detection_score``.
        detections: result boxes of the scene's keyframes (before the score threshold).
        kept: boxes kept (score >= threshold).
        tracks: number of tracks.
    """
    scene: SceneFrames
    instances: dict[str, list]
    detections: int = 0
    kept: int = 0
    tracks: int = 0


def pseudo_label_scene(scene: SceneFrames, results: Mapping[str, Sequence[Mapping]],
                       options: PseudoLabelOptions | None = None,
                       categories: Mapping[str, int] | None = None,
                       where: str = '<results>') -> PseudoScene:
    """Pseudo tracks of one scene from detection results.

    Args:
        scene: the scene's keyframes in time order (from :func:`scenes_from_infos`).
        results: ``{sample token: [result box, ...]}`` (see
            :func:`perception_kd.evaluation.nuscenes_format.load_results`); every
            keyframe of the scene must have an entry (an empty list: no detection).
        options: :class:`PseudoLabelOptions`.
        categories: ``{detection name: label}`` of the info file (default: the order of
            :data:`perception_kd.datasets.nuscenes.CLASSES`).
        where: the results file, for error messages.
    """
    options = options or PseudoLabelOptions()
    categories = dict(categories or {name: i for i, name in enumerate(CLASSES)})
    missing = [f.token for f in scene.frames if f.token not in results]
    if missing:
        raise KeyError(f'{where} has no predictions for {len(missing)} of the '
                       f'{len(scene.frames)} keyframes of scene {scene.name} (e.g. sample '
                       f'{missing[0]}); predict on the unlabelled scenes first (docs/ocf.md, '
                       '"Semi-supervised")')
    dets = [FrameDetections.from_results(results[f.token], f.token, f.timestamp,
                                         options.score_thr, where) for f in scene.frames]
    unknown = sorted({str(n) for d in dets for n in d.names} - set(categories))
    if unknown:
        raise ValueError(f'{where}: detection names {unknown} in scene {scene.name} are not '
                         f'classes of the info file ({sorted(categories)})')
    track_ids = link_tracks(dets, options.link_factor, options.use_velocity)
    first: dict[int, str] = {}
    for frame, ids in zip(scene.frames, track_ids):
        for rank, track in enumerate(ids.tolist()):
            first.setdefault(track, _token(scene.scene_token, frame.token, rank))
    frames, instances = [], {}
    for frame, det, ids in zip(scene.frames, dets, track_ids):
        boxes = det.lidar_boxes(frame.lidar2global)
        tokens = [first[t] for t in ids.tolist()]
        frames.append(replace(frame, boxes=boxes[:, :7], instance_tokens=tokens,
                              num_lidar_pts=np.full(len(boxes), -1, np.int64)))
        instances[frame.token] = [
            dict(bbox_3d=box[:7].tolist(), bbox_label_3d=categories[name],
                 velocity=box[7:9].tolist(), num_lidar_pts=-1, num_radar_pts=-1,
                 bbox_3d_isvalid=True, attr_label=-1, instance_token=token,
                 token=_token(frame.token, rank), detection_name=name,
                 detection_score=float(score))
            for rank, (box, name, score, token) in enumerate(
                zip(boxes, det.names.tolist(), det.scores.tolist(), tokens))]
    return PseudoScene(
        scene=replace(scene, frames=frames), instances=instances,
        detections=sum(len(results[f.token]) for f in scene.frames),
        kept=sum(len(d) for d in dets), tracks=len(first))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PseudoLabels:
    """The pseudo-labelled scenes of one ``make_ocf`` run.

    Attributes:
        path: the results file (absolute).
        sha256: its hash (recorded in the OCF folder's manifest).
        options: :class:`PseudoLabelOptions`.
        scenes: ``{scene token: PseudoScene}``.
    """
    path: str
    sha256: str
    options: PseudoLabelOptions
    scenes: dict[str, PseudoScene] = field(default_factory=dict)

    @classmethod
    def build(cls, path: str, scenes: Sequence[SceneFrames],
              options: PseudoLabelOptions | None = None,
              categories: Mapping[str, Mapping[str, int]] | None = None) -> PseudoLabels:
        """Pseudo tracks of ``scenes`` from the results file ``path``; ``categories`` maps a
        scene token to its info file's ``{name: label}``."""
        options = options or PseudoLabelOptions()
        results = load_results(path, what='pseudo-label file',
                               hint='write it with tools/test.py (its results_nusc.json, see '
                                    'docs/ocf.md "Semi-supervised")')
        out = cls(osp.abspath(path), file_sha256(path), options)
        for scene in scenes:
            out.scenes[scene.scene_token] = pseudo_label_scene(
                scene, results, options, (categories or {}).get(scene.scene_token), path)
        return out

    @property
    def instances(self) -> dict[str, list]:
        """``{sample token: pseudo instances}`` of every pseudo-labelled keyframe."""
        return {tok: inst for s in self.scenes.values() for tok, inst in s.instances.items()}

    def manifest(self) -> dict:
        """What the OCF folder's manifest records of the pseudo labels."""
        return dict(file=self.path, sha256=self.sha256, options=self.options.to_dict(),
                    scenes=sorted(s.scene.name for s in self.scenes.values()))

    def format(self) -> str:
        """One summary line."""
        frames = sum(len(s.scene.frames) for s in self.scenes.values())
        dets = sum(s.detections for s in self.scenes.values())
        kept = sum(s.kept for s in self.scenes.values())
        tracks = sum(s.tracks for s in self.scenes.values())
        return (f'pseudo labels {self.path}: scenes {len(self.scenes)}, keyframes {frames}, '
                f'detections {dets} (kept {kept} with score >= {self.options.score_thr}), '
                f'tracks {tracks} (mean length {kept / max(tracks, 1):.1f} keyframes)')


__all__ = ['PseudoLabelOptions', 'FrameDetections', 'PseudoScene', 'PseudoLabels',
           'match_detections', 'link_tracks', 'pseudo_label_scene',
           'DEFAULT_SCORE_THR', 'DEFAULT_LINK_FACTOR']
