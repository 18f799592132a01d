"""LiMA building blocks against naive loops and known geometry."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from perception_kd.models.pretrain.cross_view import fuse_groups, merge_regions, overlap_links
from perception_kd.models.pretrain.losses import (
    cross_sequence_alignment,
    mutual_nearest_pairs,
    region_infonce,
)
from perception_kd.models.pretrain.memory import FeatureMemoryBank
from perception_kd.models.pretrain.regions import pool_pixels, pool_points, region_ids_of_pairs


def random_batch(seed=0, b=2, ncam=3, height=12, width=16, n=40, chans=5):
    g = torch.Generator().manual_seed(seed)
    superpixels = torch.randint(0, 5, (b, ncam, height, width), generator=g)
    counts = [n, n - 7]
    pairs = []
    for s, count in enumerate(counts):
        m = 60
        pairs.append(torch.stack([torch.full((m,), s), torch.randint(0, count, (m,), generator=g),
                                  torch.randint(0, ncam, (m,), generator=g),
                                  torch.randint(0, height, (m,), generator=g),
                                  torch.randint(0, width, (m,), generator=g)], 1))
    pairs = torch.cat(pairs)
    point_feats = torch.randn(sum(counts), chans, generator=g)
    pixel_feats = torch.randn(b, ncam, chans, height, width, generator=g)
    offsets = torch.tensor([0, counts[0]])
    return pairs, superpixels, point_feats, pixel_feats, offsets


def naive_loss(pairs, superpixels, point_feats, pixel_feats, offsets, temperature):
    """SLidR's loss written as loops: per (sample, cam, segment) with a paired point."""
    points, pixels = {}, {}
    for s, p, c, r, col in pairs.tolist():
        seg = int(superpixels[s, c, r, col])
        if seg:
            points.setdefault((s, c, seg), set()).add(p)
    b, ncam, height, width = superpixels.shape
    for s in range(b):
        for c in range(ncam):
            for r in range(height):
                for col in range(width):
                    key = (s, c, int(superpixels[s, c, r, col]))
                    if key in points:
                        pixels.setdefault(key, []).append(pixel_feats[s, c, :, r, col])
    keys = sorted(points)
    k = torch.stack([point_feats[[int(offsets[s]) + p for p in sorted(points[(s, c, g)])]].mean(0)
                     for s, c, g in keys])
    q = torch.stack([torch.stack(pixels[key]).mean(0) for key in keys])
    k, q = F.normalize(k, dim=1), F.normalize(q, dim=1)
    total = 0.0
    for i in range(len(keys)):
        logits = [float(k[i] @ q[j]) / temperature for j in range(len(keys))]
        total += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    return total / len(keys)


def test_pooled_infonce_equals_naive_loop():
    pairs, superpixels, point_feats, pixel_feats, offsets = random_batch()
    regions = region_ids_of_pairs(pairs, superpixels)
    k = pool_points(point_feats, pairs, regions.pair_region, len(regions), offsets)
    q, counts = pool_pixels(pixel_feats, superpixels, regions, pairs)
    assert (counts > 0).all()
    loss = region_infonce(F.normalize(k, dim=1), F.normalize(q, dim=1), 0.07)
    expected = naive_loss(pairs, superpixels, point_feats, pixel_feats, offsets, 0.07)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_pool_pixels_on_coarser_features_falls_back_to_paired_cells():
    superpixels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    superpixels[0, 0, :4, :4] = 1          # owns the 2x2 cell (0, 0) centre (2, 2)
    superpixels[0, 0, 5, 7] = 2            # one pixel: never a cell centre at 2x2
    pairs = torch.tensor([[0, 0, 0, 1, 1], [0, 1, 0, 5, 7]])
    regions = region_ids_of_pairs(pairs, superpixels)
    feats = torch.arange(4.0).view(1, 1, 1, 2, 2)
    q, counts = pool_pixels(feats, superpixels, regions, pairs)
    assert counts.tolist() == [1, 0]
    assert q[:, 0].tolist() == [0.0, 3.0]  # region 2 pooled from the cell under its point


def test_cross_view_merges_neighbour_copies_only():
    # two cameras see points 0..9: cam 0 segment 1 and cam 1 segment 4; point 10 only cam 0
    # segment 2; points 11, 12 seen by cam 0 segment 3 and (once) cam 1 segment 5
    rows = [[0, p, 0, 0, 0] for p in range(10)] + [[0, p, 1, 0, 0] for p in range(10)]
    rows += [[0, 10, 0, 1, 0], [0, 11, 0, 2, 0], [0, 12, 0, 2, 0], [0, 11, 1, 1, 0]]
    pairs = torch.tensor(rows)
    superpixels = torch.zeros(1, 2, 3, 1, dtype=torch.long)
    superpixels[0, 0, :, 0] = torch.tensor([1, 2, 3])
    superpixels[0, 1, :, 0] = torch.tensor([4, 5, 0])
    regions = region_ids_of_pairs(pairs, superpixels)
    links, shared = overlap_links(pairs, regions)
    by_segment = {(int(regions.cam[i]), int(regions.segment[i])): i for i in range(len(regions))}
    a, b = by_segment[(0, 1)], by_segment[(1, 4)]
    assert sorted(zip(links.tolist(), shared.tolist())) == sorted(
        [
            ([min(a, b), max(a, b)], 10),
            (
                [
                    min(by_segment[(0, 3)], by_segment[(1, 5)]),
                    max(by_segment[(0, 3)], by_segment[(1, 5)]),
                ],
                1,
            ),
        ]
    )
    group, num, accepted = merge_regions(pairs, regions, min_shared=3, min_fraction=0.3)
    assert num == len(regions) - 1 and group[a] == group[b]
    assert len(set(group.tolist())) == num and len(accepted) == 1
    q = torch.tensor([[1.0, 0.0]] * len(regions))
    q[b] = torch.tensor([0.0, 1.0])
    counts = torch.ones(len(regions), dtype=torch.long)
    counts[a] = 3
    fused = fuse_groups(q, counts, group, num)
    assert torch.allclose(fused[group[a]], torch.tensor([0.75, 0.25]))
    # the 3D side counts each point once in the merged region
    feats = torch.arange(13.0).unsqueeze(1)
    pooled = pool_points(feats, pairs, group[regions.pair_region.clamp(min=0)].where(
        regions.pair_region >= 0, torch.tensor(-1)), num, torch.tensor([0]))
    assert pooled[group[a], 0] == pytest.approx(4.5)


def test_memory_bank_is_fifo_bounded_and_resets_on_scene_change():
    bank = FeatureMemoryBank(num_frames=3, voxel_size=1.0, max_points=5)
    bank.start(0, 'scene-a')
    for i in range(5):
        bank.push(0, f't{i}', torch.rand(8, 3) + i * 10, torch.zeros(8, dtype=torch.long),
                  torch.full((1, 4), float(i)))
    frames = bank.frames(0)
    assert [f.token for f in frames] == ['t2', 't3', 't4']
    assert all(len(f.xyz) == 5 for f in frames)
    assert bank.nbytes() == sum(f.nbytes() for f in frames) <= bank.bound_bytes(4, max_regions=1)
    assert not bank.start(0, 'scene-a') and bank.start(0, 'scene-b')
    assert bank.frames(0) == []
    off = FeatureMemoryBank(num_frames=0)
    off.start(0, 's')
    off.push(0, 't', torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), torch.zeros(1, 2))
    assert off.frames(0) == []


def test_memory_target_propagates_through_ego_motion():
    """A target stored at a past frame is picked up by the current frame's point at the same
    global place, found through each frame's own ego pose."""
    from perception_kd.structures import make_transform
    bank = FeatureMemoryBank(num_frames=2, voxel_size=0.5)
    bank.start(0, 'scene')
    yaw = 0.3
    past_pose = make_transform(
        np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]),
        [100.0, 50.0, 0.0],
    )
    now_pose = make_transform(np.eye(3), [106.0, 52.0, 0.0])   # the ego moved
    past_local = np.array([[10.0, 2.0, 0.5], [-5.0, 3.0, 1.0]])
    past_global = past_local @ past_pose[:3, :3].T + past_pose[:3, 3]
    bank.push(0, 'past', torch.from_numpy(past_global), torch.tensor([0, 1]),
              torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # where geometry says the two points are in the current ego frame, plus one elsewhere
    now_local = (past_global - now_pose[:3, 3]) @ now_pose[:3, :3]
    query = np.concatenate([now_local + 0.01, [[30.0, 30.0, 0.0]]])
    found = bank.query(0, torch.from_numpy(query @ now_pose[:3, :3].T + now_pose[:3, 3]))
    assert found.hit.tolist() == [True, True, False]
    assert torch.allclose(found.feat[:2], torch.eye(2))
    assert found.source.tolist()[:2] == [0, 1] and found.source[2] == -1
    assert torch.allclose(found.source_targets[found.source[:2]], torch.eye(2))


def test_mutual_nearest_and_cross_sequence_alignment():
    a = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    b = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.05]]), dim=1)
    i, j = mutual_nearest_pairs(a, b, threshold=0.9)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (1, 0)]
    q = torch.cat([a, b])
    scene = torch.tensor([0, 0, 0, 1, 1])
    k = torch.randn(5, 2, requires_grad=True)
    loss, matches = cross_sequence_alignment(F.normalize(k, dim=1), q, scene, threshold=0.9)
    assert matches == 4 and loss.requires_grad
    loss.backward()
    assert k.grad.abs().sum() > 0
    loss, matches = cross_sequence_alignment(F.normalize(k, dim=1), q, torch.zeros(5).long())
    assert matches == 0 and loss.item() == 0.0
