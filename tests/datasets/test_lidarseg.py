"""Lidarseg labels: the devkit's 32 -> 16 map, LoadLidarsegLabels, alignment through the
point transforms, packing, and scan-fraction subsets."""
import copy

import numpy as np
import pytest
import torch

import perception_kd
from perception_kd.datasets import NuScenesDataset
from perception_kd.datasets.nuscenes import select_scans
from perception_kd.datasets.transforms import (
    LoadLidarsegLabels,
    LoadPointsFromFile,
    LoadPointsFromMultiSweeps,
    Pack3DDetInputs,
    PointShuffle,
    PointsRangeFilter,
)
from perception_kd.structures import LIDARSEG_IGNORE_INDEX, lidarseg_classes, lidarseg_label_map

perception_kd.register_all_modules()


def test_label_map_is_the_devkits(tiny_nusc):
    from nuscenes.eval.lidarseg.utils import LidarsegClassMapper
    mapper = LidarsegClassMapper(tiny_nusc)
    table = lidarseg_label_map()
    expected = {fine: coarse - 1 if coarse else LIDARSEG_IGNORE_INDEX
                for fine, coarse in mapper.fine_idx_2_coarse_idx_mapping.items()}
    assert {i: int(v) for i, v in enumerate(table)} == expected
    names = {idx: name for name, idx in mapper.coarse_name_2_coarse_idx_mapping.items()}
    assert lidarseg_classes() == tuple(names[i] for i in range(1, 17))


def dataset(root, ann='nuscenes_infos_train.pkl', pipeline=(), **kwargs):
    return NuScenesDataset(data_root=root, ann_file=ann, pipeline=list(pipeline),
                           filter_empty_gt=False, **kwargs)


def test_load_labels_and_keep_them_aligned(tiny_root, tiny_infos):
    info = dataset(tiny_root).get_data_info(0)
    results = LoadLidarsegLabels()(LoadPointsFromFile(use_dim=5)(copy.deepcopy(info)))
    raw = np.fromfile(info['lidarseg_path'], dtype=np.uint8)
    mask = results['pts_semantic_mask']
    assert mask.dtype == np.int64 and len(mask) == len(results['points'])
    assert np.array_equal(mask, lidarseg_label_map()[raw])
    # tag each point with its label in a spare column; every transform must keep the pairing
    results['points'][:, 3] = mask
    results = LoadPointsFromMultiSweeps(sweeps_num=2)(results)
    assert len(results['pts_semantic_mask']) == len(results['points'])
    assert (results['pts_semantic_mask'][len(mask):] == LIDARSEG_IGNORE_INDEX).all()
    results['points'][len(mask):, 3] = LIDARSEG_IGNORE_INDEX
    results = PointsRangeFilter([-20, -20, -3, 20, 20, 3])(results)
    np.random.seed(0)
    results = PointShuffle()(results)
    assert np.array_equal(results['points'][:, 3], results['pts_semantic_mask'])
    packed = Pack3DDetInputs(keys=['points', 'pts_semantic_mask'])(results)
    seg = packed['data_samples'].gt_pts_seg.pts_semantic_mask
    assert seg.dtype == torch.int64 and len(seg) == len(packed['inputs']['points'])
    assert packed['data_samples'].metainfo['lidar_sd_token'] in info['lidarseg_path']


def test_label_errors(tiny_root, tiny_infos, tmp_path):
    info = dataset(tiny_root).get_data_info(0)
    results = LoadPointsFromFile(use_dim=5)(copy.deepcopy(info))
    with pytest.raises(FileNotFoundError, match='lidarseg file'):
        LoadLidarsegLabels()(dict(results, lidarseg_path=str(tmp_path / 'none.bin')))
    short = tmp_path / 'short_lidarseg.bin'
    np.zeros(5, np.uint8).tofile(short)
    with pytest.raises(ValueError, match='5 labels'):
        LoadLidarsegLabels()(dict(results, lidarseg_path=str(short)))
    with pytest.raises(KeyError, match='lidarseg_path'):
        LoadLidarsegLabels()(dict(results, lidarseg_path=None))


def test_scan_fraction_subsets(tiny_root, tiny_infos):
    full = dataset(tiny_root)
    tokens = [full.get_data_info(i)['token'] for i in range(len(full))]
    one = dataset(tiny_root, scan_fraction=0.01, subset_seed=0)
    half = dataset(tiny_root, scan_fraction=0.5, subset_seed=0)
    assert len(one) == 1 and len(half) == round(0.5 * len(full))
    picked = {half.get_data_info(i)['token'] for i in range(len(half))}
    assert one.get_data_info(0)['token'] in picked          # nested subsets
    again = dataset(tiny_root, scan_fraction=0.5, subset_seed=0)
    assert picked == {again.get_data_info(i)['token'] for i in range(len(again))}
    # depends on the token set only, not on the order of the info file
    assert select_scans(tokens[::-1], 0.5, 3) == sorted(
        len(tokens) - 1 - i for i in select_scans(tokens, 0.5, 3))
    assert select_scans(tokens, 0.5, 0) != select_scans(tokens, 0.5, 1) or len(tokens) < 4
    with pytest.raises(ValueError, match='scan_fraction'):
        dataset(tiny_root, scan_fraction=0.0)
