"""``SceneSequentialSampler``: batches whose slots walk through scenes in time order.

LiMA's memory (``models/pretrain/memory.py``) needs each batch slot to see the keyframes
of one scene one after the other. The sampler cuts the dataset into scenes
(``scene_token``, keyframes sorted by ``timestamp``), deals the scenes to
``batch_size x world_size`` *streams* and yields, batch after batch, the next keyframe of
every stream of this rank: position ``j`` of every batch of rank ``r`` is stream
``r * batch_size + j``.

- Shuffling: each epoch the scene order is shuffled with ``seed + epoch`` (the same on
  every rank) before the scenes are dealt, greedily, to the stream with the fewest frames;
  frames inside a scene keep their order.
- DDP: the ranks get disjoint streams, hence disjoint scenes; every rank yields the same
  number of batches (below).
- Equal lengths: a stream shorter than the longest starts over with its own first scene
  (the model sees a jump back in time and empties the slot's memory); a stream with no
  scene (more streams than scenes) replays a scene, so a small dataset still fills the
  batch.
The DataLoader's ``batch_size`` must equal the sampler's (configs pass one variable to
both); ``drop_last`` is irrelevant (the length is a multiple of the batch size).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ..registry import DATA_SAMPLERS

__all__ = ['SceneSequentialSampler', 'scene_sequences']


def scene_sequences(dataset) -> list[list[int]]:
    """Dataset indices grouped by ``scene_token``, each sorted by ``timestamp``; scenes in
    order of first appearance."""
    scenes: dict = {}
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        if 'scene_token' not in info:
            raise KeyError(f'sample {idx} of the dataset has no scene_token; '
                           'SceneSequentialSampler needs the info files of tools/create_data.py')
        scenes.setdefault(info['scene_token'], []).append((float(info.get('timestamp', 0)), idx))
    return [[idx for _, idx in sorted(frames)] for frames in scenes.values()]


@DATA_SAMPLERS.register_module()
class SceneSequentialSampler(Sampler):
    """See the module docstring.

    Args:
        dataset: a dataset whose infos carry ``scene_token`` and ``timestamp``.
        batch_size: samples per batch on each rank (the DataLoader's batch size).
        shuffle: shuffle the scene order every epoch.
        seed: random seed (synchronised across ranks when None).
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True, seed: int | None = None):
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.rank, self.world_size = get_dist_info()
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.scenes = scene_sequences(dataset)
        if not self.scenes:
            raise ValueError('SceneSequentialSampler got an empty dataset')
        self.epoch = 0

    def streams(self, epoch: int | None = None) -> list[list[int]]:
        """All ``batch_size x world_size`` streams of an epoch, padded to equal length."""
        epoch = self.epoch if epoch is None else epoch
        order = np.arange(len(self.scenes))
        if self.shuffle:
            order = np.random.default_rng(self.seed + epoch).permutation(len(self.scenes))
        num = self.batch_size * self.world_size
        streams: list[list[int]] = [[] for _ in range(num)]
        firsts: list[list[int]] = [[] for _ in range(num)]
        for scene in order:
            target = min(range(num), key=lambda s: (len(streams[s]), s))
            streams[target].extend(self.scenes[scene])
            if not firsts[target]:
                firsts[target] = self.scenes[scene]
        for s in range(num):             # more streams than scenes: replay one
            if not streams[s]:
                firsts[s] = self.scenes[order[s % len(order)]]
                streams[s] = list(firsts[s])
        length = max(len(stream) for stream in streams)
        for s, stream in enumerate(streams):
            while len(stream) < length:
                stream.extend(firsts[s][:length - len(stream)])
        return streams

    def __iter__(self) -> Iterator[int]:
        mine = self.streams()[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        for step in range(len(mine[0])):
            for stream in mine:
                yield stream[step]

    def __len__(self) -> int:
        return len(self.streams()[0]) * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
