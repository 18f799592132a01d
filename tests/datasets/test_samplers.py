"""SceneSequentialSampler: every batch slot walks one scene at a time, in time order."""
import pytest

from perception_kd.datasets.samplers import SceneSequentialSampler


class FakeDataset:
    """Scenes a (5 frames), b (3), c (2), stored shuffled."""

    def __init__(self):
        frames = [('a', t) for t in range(5)] + [('b', t) for t in range(3)] + \
            [('c', t) for t in range(2)]
        self.infos = [dict(scene_token=s, timestamp=float(t)) for s, t in frames[::-1]]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return self.infos[idx]


def walk(sampler, dataset):
    order = list(sampler)
    batches = [order[i:i + sampler.batch_size] for i in range(0, len(order), sampler.batch_size)]
    slots = list(zip(*batches))
    return order, [[(dataset.infos[i]['scene_token'], dataset.infos[i]['timestamp']) for i in slot]
                   for slot in slots]


def test_slots_follow_scenes_in_time_order_and_cover_everything():
    data = FakeDataset()
    sampler = SceneSequentialSampler(data, batch_size=2, shuffle=True, seed=3)
    order, slots = walk(sampler, data)
    assert len(order) == len(sampler) and len(order) % 2 == 0
    assert set(order) == set(range(len(data)))
    for slot in slots:
        for (s0, t0), (s1, t1) in zip(slot, slot[1:]):
            assert s1 != s0 or t1 == t0 + 1 or t1 == 0   # next frame, or a restart
    sampler.set_epoch(1)
    other = list(sampler)
    assert set(other) == set(range(len(data))) and other != order


def test_ranks_get_disjoint_scenes(monkeypatch):
    data = FakeDataset()
    seen = []
    for rank in range(2):
        monkeypatch.setattr('perception_kd.datasets.samplers.get_dist_info', lambda r=rank: (r, 2))
        sampler = SceneSequentialSampler(data, batch_size=1, shuffle=True, seed=0)
        assert sampler.rank == rank
        seen.append({data.infos[i]['scene_token'] for i in sampler})
    assert not seen[0] & seen[1] and seen[0] | seen[1] == {'a', 'b', 'c'}


def test_more_slots_than_scenes_and_errors():
    data = FakeDataset()
    sampler = SceneSequentialSampler(data, batch_size=5, shuffle=False, seed=0)
    order, slots = walk(sampler, data)
    assert len(slots) == 5 and all(len(slot) == 5 for slot in slots)
    with pytest.raises(ValueError, match='batch_size'):
        SceneSequentialSampler(data, batch_size=0)
