"""``ObjectCompleteFrameBuilder``: Object-Complete Frames, the input of X-Ray's teacher.

Method and user guide: ``docs/ocf.md``.

For one scene and each instance (track) in it: the keyframe points inside the instance's
box, in every keyframe where it is annotated, go to box-local coordinates
(LiDAR -> ego -> global -> box, the box being the annotation's upright global box, see
:mod:`perception_kd.ocf.frames`), are accumulated along the track, and go back at the
instance's box pose into each keyframe (box -> global -> ego -> LiDAR).

Box-local frame: origin at the box's geometric centre, x along its length, y along its
width, z up.

How a keyframe is patched: its own in-box points are its contribution to the accumulated
cloud. Instead of deleting them and re-inserting their float32 round trip, the builder
keeps them untouched and appends the points of the *other* keyframes. This is the
published construction without the round-trip error: rows ``[0, N)`` of an OCF are the
raw cloud byte for byte, rows ``[N, N + A)`` the added points. So points outside every
box are those of the raw frame, and in-box counts never drop.

Everything per point is vectorised numpy; Python loops run over keyframes only.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..structures import invert, make_transform, rotz
from .frames import KeyFrame


@dataclass
class OCFOptions:
    """Options of :class:`ObjectCompleteFrameBuilder` (defaults = the published generator).

    Attributes:
        window: accumulate only keyframes within +-``window`` keyframes (index in the
            scene) of the patched one; None: the whole track, past and future (published).
            0 adds nothing: the OCF equals the raw cloud.
        enlarge: metres added to every side of each box (all three axes) for extraction
            and cropping; 0 = the exact box (published; in-box counts equal the
            annotations' ``num_lidar_pts``).
        ground_height: if set, points less than this many metres above the bottom of the
            (not enlarged) box are not object points: not extracted, they stay as ground.
            Meant for ``enlarge > 0`` (e.g. 0.2 m with a 0.1 m enlargement). None: off.
        voxel_size: if set, a box-local voxel grid (metres) thinning the *added* points:
            at most one per voxel (nearest keyframe first) and none in voxels that hold
            one of the keyframe's own points. None: off (published).
        max_points: if set, a cap on an annotation's object points in the OCF (own +
            added): the added points are a seeded random subset; own points are always
            kept. None: no cap (published).
        crop_to_box: drop accumulated points outside the patched keyframe's box
            (enlarged, minus the ground slab), checked after rounding to float32, so box
            size changes along a track cannot put points outside the box. Default True
            (published: no crop; identical when box sizes are constant).
        skip_empty: add nothing to annotations without raw object points in the patched
            keyframe (fully occluded or out of the sensor's view there). Default False
            (published: they are filled too). ``NuScenesDataset`` drops such boxes from
            the ground truth (``bbox_3d_isvalid``), so a teacher trained on filled OCFs
            sees completed objects without labels; see ``docs/ocf.md``.
        zero_ring: set the 5th column of the whole output to 0 (published). Default False:
            raw rows stay byte-identical, added points carry the ring index of the scan
            they came from (a multi-sweep pipeline overwrites the column with the time lag).
        seed: seed of the ``max_points`` subsets (mixed with the keyframe token).
    """
    window: int | None = None
    enlarge: float = 0.0
    ground_height: float | None = None
    voxel_size: float | None = None
    max_points: int | None = None
    crop_to_box: bool = True
    skip_empty: bool = False
    zero_ring: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.window is not None and (int(self.window) != self.window or self.window < 0):
            raise ValueError(f'window must be None or an integer >= 0, got {self.window!r}')
        if self.enlarge < 0:
            raise ValueError(f'enlarge must be >= 0 metres, got {self.enlarge}')
        if self.voxel_size is not None and self.voxel_size <= 0:
            raise ValueError(f'voxel_size must be None or > 0 metres, got {self.voxel_size}')
        if self.max_points is not None and self.max_points < 1:
            raise ValueError(f'max_points must be None or >= 1, got {self.max_points}')

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OCFFrame:
    """The Object-Complete Frame of one keyframe.

    Attributes:
        index: the keyframe's index in the scene.
        points: (N + A, C) float32 in the keyframe's LiDAR frame: the raw cloud (rows
            ``[0, N)``, unchanged unless ``zero_ring``) then the A added points.
        num_raw: N.
        points_before: (M,) int64 object points of each annotation in the raw cloud.
        points_added: (M,) int64 points added for each annotation.
    """
    index: int
    points: np.ndarray
    num_raw: int
    points_before: np.ndarray
    points_added: np.ndarray

    @property
    def points_after(self) -> np.ndarray:
        """(M,) object points of each annotation in the OCF."""
        return self.points_before + self.points_added


@dataclass
class _Extracted:
    """Object points of a scene, one row per (keyframe, annotation, point) in box-local frame."""
    local: np.ndarray      # (T, 3) float64 box-local xyz
    feats: np.ndarray      # (T, C - 3) float32 the other columns (intensity, ring)
    track: np.ndarray      # (T,) int64 track index in the scene
    frame: np.ndarray      # (T,) int64 keyframe index in the scene
    box: np.ndarray        # (T,) int64 annotation index in its keyframe
    track_index: dict      # instance token -> track index (every annotated instance)


class ObjectCompleteFrameBuilder:
    """Build the Object-Complete Frames of a scene's keyframes.

    Args:
        options: :class:`OCFOptions`, or pass its fields as keyword arguments.

    Example::

        builder = ObjectCompleteFrameBuilder(window=None)
        for ocf in builder.build(frames, clouds):      # KeyFrame list, (N_i, 5) arrays
            save_points(out_paths[ocf.index], ocf.points)
    """

    def __init__(self, options: OCFOptions | None = None, **kwargs):
        if options is not None and kwargs:
            raise TypeError('pass either an OCFOptions or keyword options, not both')
        self.options = options if options is not None else OCFOptions(**kwargs)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.options.to_dict().items())
        return f'{type(self).__name__}({args})'

    # ------------------------------------------------------------------ the object region
    def _inside_local(self, local: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Which box-local points (..., 3) lie in the object region of boxes of ``size``
        (..., 3) ``(l, w, h)``: the box grown by ``enlarge``, minus the ground slab."""
        opts = self.options
        half = size * 0.5 + opts.enlarge
        inside = ((np.abs(local[..., 0]) <= half[..., 0]) & (np.abs(local[..., 1]) <= half[..., 1])
                  & (np.abs(local[..., 2]) <= half[..., 2]))
        if opts.ground_height is not None:
            inside &= local[..., 2] + size[..., 2] * 0.5 >= opts.ground_height
        return inside

    @staticmethod
    def _to_local(rel: np.ndarray, yaw: np.ndarray) -> np.ndarray:
        """Offsets from box centres (..., 3) in the global frame -> box-local (..., 3)."""
        cos, sin = np.cos(yaw), np.sin(yaw)
        return np.stack([rel[..., 0] * cos + rel[..., 1] * sin,
                         -rel[..., 0] * sin + rel[..., 1] * cos, rel[..., 2]], -1)

    def object_pairs(self, points_global: np.ndarray, gboxes: np.ndarray) -> tuple:
        """Object points of each box: ``(box_idx, point_idx)`` int64 arrays, sorted by box
        then point.

        points_global: (N, 3+) float64 in the global frame; gboxes: (M, 7) upright global
        boxes. With the default options, point n is in box m exactly as in
        ``perception_kd.structures.points_in_boxes`` (closed intervals, as the devkit's
        ``points_in_box``). Candidates come from a sort of the points along x and each
        box's half-diagonal, so the exact test runs on a thin slab per box only.
        """
        points_global = np.asarray(points_global, dtype=np.float64)
        if len(points_global) == 0 or len(gboxes) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        order = np.argsort(points_global[:, 0], kind='stable')
        xs = points_global[order, 0]
        reach = 0.5 * np.hypot(gboxes[:, 3], gboxes[:, 4]) + self.options.enlarge + 1e-6
        lows = np.searchsorted(xs, gboxes[:, 0] - reach, side='left')
        highs = np.searchsorted(xs, gboxes[:, 0] + reach, side='right')
        boxes, points = [], []
        for m, (low, high) in enumerate(zip(lows, highs)):       # loop over boxes only
            cand = order[low:high]
            if len(cand) == 0:
                continue
            local = self._to_local(points_global[cand, :3] - gboxes[m, :3], gboxes[m, 6])
            hits = np.sort(cand[self._inside_local(local, gboxes[m, 3:6])])
            boxes.append(np.full(len(hits), m, dtype=np.int64))
            points.append(hits)
        if not boxes:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(boxes), np.concatenate(points).astype(np.int64)

    def object_mask(self, points_global: np.ndarray, gboxes: np.ndarray) -> np.ndarray:
        """Boolean (N, M): point n is an object point of box m (see :meth:`object_pairs`)."""
        mask = np.zeros((len(points_global), len(gboxes)), dtype=bool)
        box_idx, point_idx = self.object_pairs(points_global, gboxes)
        mask[point_idx, box_idx] = True
        return mask

    # -------------------------------------------------------------------------- building
    def extract(self, frames: Sequence[KeyFrame], clouds: Sequence[np.ndarray]) -> _Extracted:
        """Object points of every keyframe in box-local coordinates (step 1 of the method)."""
        tracks: dict = {}
        parts = []
        for index, (frame, cloud) in enumerate(zip(frames, clouds)):
            gboxes = frame.global_boxes()
            l2g = frame.lidar2global
            xyz = cloud[:, :3].astype(np.float64) @ l2g[:3, :3].T + l2g[:3, 3]
            box_idx, point_idx = self.object_pairs(xyz, gboxes)
            local = self._to_local(xyz[point_idx] - gboxes[box_idx, :3], gboxes[box_idx, 6])
            track_of_box = np.asarray([tracks.setdefault(tok, len(tracks))
                                       for tok in frame.instance_tokens], dtype=np.int64)
            parts.append((local, cloud[point_idx, 3:], track_of_box[box_idx],
                          np.full(len(box_idx), index, dtype=np.int64), box_idx))
        if not parts:
            return _Extracted(np.zeros((0, 3)), np.zeros((0, 2), np.float32),
                              *(np.zeros(0, np.int64) for _ in range(3)), tracks)
        return _Extracted(*(np.concatenate(items) for items in zip(*parts)), tracks)

    def build(self, frames: Sequence[KeyFrame], clouds: Sequence[np.ndarray],
              targets: Iterable[int] | None = None) -> Iterator[OCFFrame]:
        """Yield the OCF of each target keyframe, in order.

        Args:
            frames: the scene's keyframes in time order (:class:`KeyFrame`).
            clouds: their raw clouds, (N_i, C) float32 in each keyframe's LiDAR frame
                (C >= 3; nuScenes: 5).
            targets: keyframe indices to patch (default: all). All keyframes are read,
                since any of them may contribute to a target.
        """
        if len(frames) != len(clouds):
            raise ValueError(f'{len(frames)} keyframes but {len(clouds)} clouds')
        dims = {cloud.shape[1] for cloud in clouds}
        if len(dims) > 1 or any(cloud.ndim != 2 or cloud.shape[1] < 3 for cloud in clouds):
            raise ValueError(f'clouds must be (N, C) arrays with one C >= 3, got columns {dims}')
        extracted = self.extract(frames, clouds)
        for index in (range(len(frames)) if targets is None else targets):
            yield self._patch(index, frames[index], clouds[index], extracted)

    def _patch(self, index: int, frame: KeyFrame, cloud: np.ndarray,
               ex: _Extracted) -> OCFFrame:
        """The OCF of keyframe ``index`` from the scene's extracted object points."""
        own_rows = np.nonzero(ex.frame == index)[0]             # grouped by box (extract)
        own_bounds = np.searchsorted(ex.box[own_rows], np.arange(len(frame.boxes) + 1))
        before = np.diff(own_bounds).astype(np.int64)
        rows, owner = self._borrowed_rows(index, frame, ex, before)
        gboxes = frame.global_boxes()
        local, feats, owner = self._filter(ex.local[rows], ex.feats[rows], owner, gboxes,
                                           ex, own_rows, before, frame.token)
        pieces, added = self._to_lidar(frame, gboxes, local, feats, owner)
        points = np.concatenate([cloud.astype(np.float32, copy=False)] + pieces)
        if self.options.zero_ring and points.shape[1] >= 5:
            points[:, 4] = 0.0
        return OCFFrame(index=index, points=points, num_raw=len(cloud), points_before=before,
                        points_added=added)

    def _borrowed_rows(self, index: int, frame: KeyFrame, ex: _Extracted,
                       before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``ex`` other keyframes lend to this one's annotations, and the box (of
        this keyframe) each goes to: per annotation, nearest keyframe first (ties: earlier
        first), point order kept."""
        opts = self.options
        # Which annotation of this keyframe each track is (-1: not annotated here).
        box_of_track = np.full(len(ex.track_index), -1, dtype=np.int64)
        for box_idx, token in enumerate(frame.instance_tokens):
            box_of_track[ex.track_index[token]] = box_idx
        box = box_of_track[ex.track]
        select = (box >= 0) & (ex.frame != index)
        if opts.window is not None:
            select &= np.abs(ex.frame - index) <= opts.window
        if opts.skip_empty:
            select &= np.append(before, 0)[box] > 0            # box -1 reads the 0
        rows = np.nonzero(select)[0]
        rows = rows[np.lexsort((ex.frame[rows], np.abs(ex.frame[rows] - index), box[rows]))]
        return rows, box[rows]

    def _filter(self, local: np.ndarray, feats: np.ndarray, owner: np.ndarray,
                gboxes: np.ndarray, ex: _Extracted, own_rows: np.ndarray, before: np.ndarray,
                token: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop the borrowed box-local points to this keyframe's box, thin them to voxels,
        cap them per box (each step as its option asks)."""
        opts = self.options
        if opts.crop_to_box and len(owner):
            keep = self._inside_local(local, gboxes[owner, 3:6])
            local, feats, owner = local[keep], feats[keep], owner[keep]
        if opts.voxel_size is not None and len(owner):
            keep = self._thin_voxels(local, owner, ex.local[own_rows], ex.box[own_rows])
            local, feats, owner = local[keep], feats[keep], owner[keep]
        if opts.max_points is not None and len(owner):
            keep = self._cap(owner, before, token)
            local, feats, owner = local[keep], feats[keep], owner[keep]
        return local, feats, owner

    def _to_lidar(self, frame: KeyFrame, gboxes: np.ndarray, local: np.ndarray,
                  feats: np.ndarray, owner: np.ndarray) -> tuple[list, np.ndarray]:
        """Box-local -> global (this keyframe's box pose) -> ego -> LiDAR, as float32: one
        composed matrix per box (the rows are grouped by box). Returns the (n_m, D) point
        blocks and the points added per box (num_boxes,)."""
        l2g = frame.lidar2global
        global2lidar = invert(l2g)
        num_boxes = len(frame.boxes)
        bounds = np.searchsorted(owner, np.arange(num_boxes + 1))
        pieces = []
        added = np.zeros(num_boxes, dtype=np.int64)
        for m in np.nonzero(np.diff(bounds))[0]:                 # loop over boxes only
            part = slice(bounds[m], bounds[m + 1])
            box2lidar = global2lidar @ make_transform(rotz(gboxes[m, 6]), gboxes[m, :3])
            xyz = (local[part] @ box2lidar[:3, :3].T + box2lidar[:3, 3]).astype(np.float32)
            box_feats = feats[part]
            if self.options.crop_to_box:
                keep = self._recheck_faces(xyz, local[part], gboxes[m], l2g)
                xyz, box_feats = xyz[keep], box_feats[keep]
            pieces.append(np.concatenate([xyz, box_feats.astype(np.float32)], 1))
            added[m] = len(xyz)
        return pieces, added

    def _recheck_faces(self, xyz: np.ndarray, local: np.ndarray, gbox: np.ndarray,
                       l2g: np.ndarray) -> np.ndarray:
        """Indices of the float32 LiDAR points ``xyz`` still inside ``gbox``: rounding may
        push a point on a face just outside, so the points within 1 mm of a face are
        re-checked with the extraction's own arithmetic."""
        near = np.nonzero(self._face_margin(local, gbox[3:6]) < 1e-3)[0]
        back = xyz[near].astype(np.float64) @ l2g[:3, :3].T + l2g[:3, 3]
        out = near[~self._inside_local(self._to_local(back - gbox[:3], gbox[6]), gbox[3:6])]
        if len(out):
            return np.setdiff1d(np.arange(len(xyz)), out)
        return np.arange(len(xyz))

    def _face_margin(self, local: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Distance (N,) of box-local points inside the object region to its nearest face."""
        half = size * 0.5 + self.options.enlarge
        margin = np.min(half - np.abs(local), axis=1)
        if self.options.ground_height is not None:
            margin = np.minimum(margin, local[:, 2] + size[2] * 0.5 - self.options.ground_height)
        return margin

    def _thin_voxels(self, local: np.ndarray, owner: np.ndarray, own_local: np.ndarray,
                     own_box: np.ndarray) -> np.ndarray:
        """Keep mask of the added points: the first per (annotation, voxel), none in voxels
        holding one of the keyframe's own points of that annotation."""
        cells = np.floor(np.concatenate([own_local, local]) / self.options.voxel_size)
        cells = cells.astype(np.int64)
        cells -= cells.min(0)
        ids = np.concatenate([own_box, owner])
        dims = (int(ids.max()) + 1, *(int(d) for d in cells.max(0) + 1))
        if np.prod(np.asarray(dims, dtype=np.float64)) >= 2.0 ** 62:
            raise ValueError(f'voxel_size {self.options.voxel_size} is too small for boxes of '
                             f'{dims[1:]} voxels; use a larger voxel_size')
        keys = np.ravel_multi_index((ids, cells[:, 0], cells[:, 1], cells[:, 2]), dims)
        own_keys, added_keys = keys[:len(own_local)], keys[len(own_local):]
        keep = np.zeros(len(added_keys), dtype=bool)
        keep[np.unique(added_keys, return_index=True)[1]] = True   # first occurrence
        return keep & ~np.isin(added_keys, own_keys)

    def _cap(self, owner: np.ndarray, before: np.ndarray, token: str) -> np.ndarray:
        """Keep mask of the added points: per annotation, a seeded random subset of at most
        ``max_points - own points`` (order kept)."""
        budget = np.maximum(self.options.max_points - before, 0)
        rng = np.random.default_rng([self.options.seed, zlib.crc32(token.encode())])
        order = np.lexsort((rng.random(len(owner)), owner))
        grouped = owner[order]
        rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side='left')
        keep = np.zeros(len(owner), dtype=bool)
        keep[order[rank < budget[grouped]]] = True
        return keep
