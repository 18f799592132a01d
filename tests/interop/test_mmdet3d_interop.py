"""Interop with the real mmdet3d 1.4 stack on the tiny synthetic tree (``make mmdet3d``).

Skipped, with the command that enables them, when mmcv/mmdet/mmdet3d are not importable
(``perception_kd.utils.mmdet3d_compat``). What is checked:

- mmdet3d's own converter (``tools/create_data.py nuscenes``, shipped in the wheel under
  ``mmdet3d/.mim/tools``) makes infos that give the project's pipeline the same samples,
  boxes (yaw within mmdet3d's ``yaw_pitch_roll`` drift) and sweep points as our infos;
- our infos load in mmdet3d's ``NuScenesDataset`` + ``LoadPointsFromMultiSweeps`` with
  sweeps: the keyframe points are ours, each sweep is ours moved by mmdet3d's known
  translation error ``R^T t - t`` (docs/data_format.md), first keyframes are padded;
- box corners agree with ``LiDARInstance3DBoxes(origin=(0.5, 0.5, 0.5))``.
"""
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from perception_kd.utils.mmdet3d_compat import mmdet3d_missing

_MISSING = mmdet3d_missing()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)

import torch  # noqa: E402

from perception_kd.datasets import NuScenesDataset  # noqa: E402
from perception_kd.structures import box_corners  # noqa: E402

SWEEPS = 3   # the tiny_infos fixture's max_sweeps
OURS_PIPELINE = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                 dict(type='LoadPointsFromMultiSweeps', sweeps_num=SWEEPS, test_mode=True),
                 dict(type='LoadAnnotations3D')]


@pytest.fixture(scope='module')
def converted(tiny_root, tmp_path_factory):
    """mmdet3d's converter run as its README says, from a folder holding ``tools`` and
    ``data/nuscenes`` (a symlinked copy of the tiny tree, so its outputs stay there)."""
    import mmdet3d
    work = tmp_path_factory.mktemp('mmdet3d_convert')
    root = work / 'data' / 'nuscenes'
    root.mkdir(parents=True)
    for name in os.listdir(tiny_root):
        if not name.endswith('.pkl'):
            os.symlink(osp.join(tiny_root, name), root / name)
    os.symlink(osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools'), work / 'tools')
    cmd = [sys.executable, 'tools/create_data.py', 'nuscenes', '--root-path', './data/nuscenes',
           '--out-dir', './data/nuscenes', '--extra-tag', 'nuscenes', '--version', 'v1.0-mini',
           '--max-sweeps', str(SWEEPS)]
    env = dict(os.environ, PYTHONPATH=f'{work}{os.pathsep}{os.environ.get("PYTHONPATH", "")}')
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return str(root), str(root / 'nuscenes_infos_val.pkl')


def _by_token(dataset):
    return {dataset.get_data_info(i)['token']: i for i in range(len(dataset))}


def test_mmdet3d_made_infos_in_our_pipeline(converted, tiny_root, tiny_infos):
    root, ann_file = converted
    with open(ann_file, 'rb') as f:
        raw = pickle.load(f)
    sweep_paths = [s['lidar_points']['lidar_path'] for i in raw['data_list']
                   for s in i.get('lidar_sweeps', [])]
    assert sweep_paths and all(p.startswith('./data/nuscenes/') for p in sweep_paths)
    theirs = NuScenesDataset(data_root=root, ann_file=ann_file, pipeline=OURS_PIPELINE,
                             test_mode=True)
    ours = NuScenesDataset(data_root=tiny_root, ann_file=tiny_infos['val'],
                           pipeline=OURS_PIPELINE, test_mode=True)
    index = _by_token(ours)
    assert sorted(index) == sorted(_by_token(theirs))
    for idx in range(len(theirs)):
        a = theirs[idx]
        b = ours[index[a['token']]]
        assert osp.basename(a['lidar_path']) == osp.basename(b['lidar_path'])
        np.testing.assert_array_equal(a['gt_labels_3d'], b['gt_labels_3d'])
        np.testing.assert_allclose(a['gt_bboxes_3d'][:, :6], b['gt_bboxes_3d'][:, :6], atol=1e-4)
        yaw = np.angle(np.exp(1j * (a['gt_bboxes_3d'][:, 6] - b['gt_bboxes_3d'][:, 6])))
        assert np.abs(yaw).max(initial=0) < 5e-4   # mmdet3d's yaw_pitch_roll drift
        np.testing.assert_allclose(a['gt_bboxes_3d'][:, 7:], b['gt_bboxes_3d'][:, 7:], atol=1e-4)
        assert a['points'].shape == b['points'].shape
        # float32 lidar2sensor in their infos: sub-millimetre differences
        np.testing.assert_allclose(a['points'], b['points'], atol=2e-4, rtol=0)


def test_our_infos_in_mmdet3d_dataset(tiny_root, tiny_infos):
    from mmdet3d.datasets import NuScenesDataset as MMDet3DNuScenes
    from mmdet3d.datasets.transforms import LoadPointsFromFile as TheirFile
    from mmdet3d.datasets.transforms import LoadPointsFromMultiSweeps as TheirSweeps
    prefix = dict(pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP')
    theirs = MMDet3DNuScenes(
        data_root=tiny_root, ann_file=tiny_infos['val'], data_prefix=prefix, test_mode=True,
        modality=dict(use_lidar=True, use_camera=False),
        pipeline=[TheirFile(coord_type='LIDAR', load_dim=5, use_dim=5),
                  TheirSweeps(sweeps_num=SWEEPS, test_mode=True, use_dim=[0, 1, 2, 3, 4],
                              pad_empty_sweeps=True, remove_close=True)])   # our defaults
    ours = NuScenesDataset(data_root=tiny_root, ann_file=tiny_infos['val'],
                           pipeline=OURS_PIPELINE[:2], test_mode=True)
    with open(tiny_infos['val'], 'rb') as f:
        raw = {i['token']: i for i in pickle.load(f)['data_list']}
    assert len(theirs) == len(ours)
    padded = with_sweeps = 0
    for idx in range(len(ours)):
        b = ours[idx]
        a = theirs[idx]['points'].tensor.numpy()
        assert a.shape == b['points'].shape
        lag = b['points'][:, 4]
        np.testing.assert_array_equal(a[lag == 0], b['points'][lag == 0])
        sweeps = raw[b['token']].get('lidar_sweeps', [])
        padded += not sweeps
        for sweep in sweeps:   # each sweep: ours moved by mmdet3d's R^T t - t
            m = np.asarray(sweep['lidar2sensor'])
            offset = m[:3, :3].T @ m[:3, 3] - m[:3, 3]
            rows = np.isclose(lag, b['timestamp'] - sweep['timestamp'])
            assert rows.any()
            np.testing.assert_allclose(a[rows, :3] - b['points'][rows, :3],
                                       np.broadcast_to(offset, (rows.sum(), 3)), atol=1e-3)
            np.testing.assert_array_equal(a[rows, 3:], b['points'][rows, 3:])
            with_sweeps += 1
    assert padded >= 1 and with_sweeps >= 3


def test_box_corners_match_lidar_instance_boxes():
    from mmdet3d.structures import LiDARInstance3DBoxes
    gen = np.random.default_rng(0)
    boxes = np.concatenate([gen.uniform(-30, 30, (20, 3)), gen.uniform(0.5, 8, (20, 3)),
                            gen.uniform(-np.pi, np.pi, (20, 1))], 1)
    theirs = LiDARInstance3DBoxes(torch.from_numpy(boxes), origin=(0.5, 0.5, 0.5)).corners
    ours = box_corners(boxes)
    for a, b in zip(theirs.numpy(), ours):   # corner orders differ: compare as sets
        np.testing.assert_allclose(a[np.lexsort(a.T)], b[np.lexsort(b.T)], atol=1e-5)
