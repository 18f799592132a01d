"""LiMA's Long-Term Feature Propagation: a FIFO memory of past keyframes' image targets.

Each *stream* (one slot of the batch, fed the keyframes of one scene in time order by
:class:`~perception_kd.datasets.samplers.SceneSequentialSampler`) keeps the fused image
targets of its last ``num_frames`` keyframes: the paired points of each frame in the
global frame and, per region, its target (the frozen image encoder's pooled feature, so
stored targets never go stale while the 3D network trains). A point of the current frame
picks up the targets of the past frames at its location:

- cells: global space is cut into cubes of ``voxel_size``; a cell's memory feature is the
  mean of the targets of all stored points in it (all k frames);
- lookup: a current point (moved to the global frame with its own ego pose) takes the
  feature of its cell, if any (``hit``), and the id of the most recent stored region in
  that cell (``source``).
The world is taken as static between keyframes (ego motion only): moving objects smear
their targets along their path, which the cell mean and the hit-fraction weighting
(``LiMAPretrainer``) keep local. When a stream's scene changes the stream is emptied.
Memory is bounded: at most ``num_frames`` x ``max_points`` points per stream
(:meth:`nbytes` reports it).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ['FeatureMemoryBank', 'MemoryFrame', 'MemoryLookup', 'cell_keys']

_BITS = 21
_HALF = 1 << (_BITS - 1)


def cell_keys(xyz: Tensor, voxel_size: float) -> Tensor:
    """(N, 3) metres -> (N,) int64 keys of the ``voxel_size`` cubes holding them."""
    idx = torch.floor(xyz.double() / voxel_size).long() + _HALF
    if len(idx) and (idx.min() < 0 or idx.max() >= (1 << _BITS)):
        raise ValueError(f'coordinates beyond +-{_HALF * voxel_size:.0f} m cannot be hashed')
    return (idx[:, 0] << (2 * _BITS)) | (idx[:, 1] << _BITS) | idx[:, 2]


@dataclass
class MemoryFrame:
    """One stored keyframe: ``xyz`` (P, 3) float64 global, ``region`` (P,) int64 index into
    ``targets`` (R, C) (stored in ``dtype`` of the bank), ``uid`` a running frame number."""
    token: str
    xyz: Tensor
    region: Tensor
    targets: Tensor
    uid: int

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.xyz, self.region, self.targets))


@dataclass
class MemoryLookup:
    """Per current point: ``feat`` (N, C) float32 mean memory target (0 where no hit),
    ``hit`` (N,) bool, ``source`` (N,) int64 id of the most recent stored region in the
    point's cell (-1 where no hit); ``source_targets`` (S, C) float32 maps ids -> targets."""
    feat: Tensor
    hit: Tensor
    source: Tensor
    source_targets: Tensor


class FeatureMemoryBank:
    """FIFO memory of the last ``num_frames`` keyframes per stream (see module docstring).

    Args:
        num_frames: k, frames kept per stream (0 disables the bank).
        voxel_size: cell size in metres for the lookup.
        max_points: points kept per frame (a random subset beyond it), bounds the memory.
        dtype: storage type of the targets (float16 halves the memory).
    """

    def __init__(self, num_frames: int = 6, voxel_size: float = 0.5, max_points: int = 20000,
                 dtype: torch.dtype = torch.float16, seed: int = 0):
        if num_frames < 0 or voxel_size <= 0 or max_points <= 0:
            raise ValueError('num_frames >= 0, voxel_size > 0 and max_points > 0 required, got '
                             f'{num_frames}, {voxel_size}, {max_points}')
        self.num_frames = int(num_frames)
        self.voxel_size = float(voxel_size)
        self.max_points = int(max_points)
        self.dtype = dtype
        self.streams: dict[int, deque] = {}
        self.scenes: dict[int, str] = {}
        self._uid = 0
        self._generator = torch.Generator().manual_seed(seed)

    def frames(self, stream: int) -> list:
        """The stored frames of a stream, oldest first."""
        return list(self.streams.get(stream, ()))

    def start(self, stream: int, scene: str) -> bool:
        """Declare the scene of the stream's next frame; empties the stream on a scene
        change. Returns True when the stream was reset."""
        if self.scenes.get(stream) == scene:
            return False
        self.scenes[stream] = scene
        self.streams[stream] = deque(maxlen=max(self.num_frames, 1))
        return True

    def clear(self, stream: int) -> None:
        """Empty a stream, keeping its scene (e.g. the sampler replayed the scene)."""
        self.streams[stream] = deque(maxlen=max(self.num_frames, 1))

    def push(self, stream: int, token: str, xyz: Tensor, region: Tensor, targets: Tensor) -> None:
        """Store a frame: ``xyz`` (P, 3) global points, ``region`` (P,) into ``targets`` (R, C)."""
        if self.num_frames == 0:
            return
        if stream not in self.streams:
            raise KeyError(f'stream {stream} has no scene; call start(stream, scene) first')
        if len(xyz) != len(region):
            raise ValueError(f'xyz ({len(xyz)}) and region ({len(region)}) differ in length')
        if len(xyz) > self.max_points:
            keep = torch.randperm(len(xyz), generator=self._generator)[:self.max_points]
            xyz, region = xyz[keep.to(xyz.device)], region[keep.to(region.device)]
        self.streams[stream].append(MemoryFrame(
            token=token, xyz=xyz.detach().double().cpu(), region=region.detach().cpu(),
            targets=targets.detach().to('cpu', self.dtype), uid=self._uid))
        self._uid += 1

    def query(self, stream: int, xyz: Tensor) -> MemoryLookup:
        """Look up the current points ``xyz`` (N, 3) global in the stream's memory."""
        frames = self.frames(stream)
        n, device = len(xyz), xyz.device
        if not frames or n == 0:
            chans = frames[0].targets.shape[1] if frames else 0
            return MemoryLookup(torch.zeros(n, chans, device=device),
                                torch.zeros(n, dtype=torch.bool, device=device),
                                torch.full((n,), -1, dtype=torch.long, device=device),
                                torch.zeros(0, chans, device=device))
        # stored points, oldest frame first; per point its target and a global region id
        offsets, start = [], 0
        for frame in frames:
            offsets.append(start)
            start += len(frame.targets)
        mem_xyz = torch.cat([f.xyz for f in frames])
        mem_region = torch.cat([f.region + off for f, off in zip(frames, offsets)])
        source_targets = torch.cat([f.targets for f in frames]).float()
        mem_keys = cell_keys(mem_xyz, self.voxel_size)
        cells, cell_of_point = torch.unique(mem_keys, return_inverse=True)
        chans = source_targets.shape[1]
        cell_feat = torch.zeros(len(cells), chans).index_add_(0, cell_of_point,
                                                            source_targets[mem_region])
        cell_feat /= torch.bincount(cell_of_point, minlength=len(cells)).clamp(min=1).unsqueeze(1)
        order = torch.arange(len(mem_xyz))          # later = more recent
        newest = torch.full((len(cells),), -1, dtype=torch.long)
        newest.scatter_reduce_(0, cell_of_point, order, reduce='amax')
        cell_source = mem_region[newest]
        keys = cell_keys(xyz.detach().cpu(), self.voxel_size)
        pos = torch.searchsorted(cells, keys).clamp(max=len(cells) - 1)
        hit = cells[pos] == keys
        feat = torch.where(hit.unsqueeze(1), cell_feat[pos], torch.zeros(()))
        source = torch.where(hit, cell_source[pos], torch.full_like(pos, -1))
        return MemoryLookup(feat.to(device), hit.to(device), source.to(device),
                            source_targets.to(device))

    def nbytes(self) -> int:
        """Bytes held by all streams (points, region ids and targets)."""
        return sum(frame.nbytes() for stream in self.streams.values() for frame in stream)

    def bound_bytes(self, channels: int, max_regions: int = 1000, streams: int = 1) -> int:
        """Upper bound of :meth:`nbytes`: k x (max_points x (3 x 8 + 8) + max_regions x C x
        element size) per stream."""
        per_frame = self.max_points * (3 * 8 + 8) + max_regions * channels * \
            torch.finfo(self.dtype).bits // 8
        return streams * self.num_frames * per_frame
