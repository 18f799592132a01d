"""Object-Complete Frames: the builder on hand-made scenes, ``make_ocf`` / ``tools/make_ocf.py``
on copies of the tiny synthetic tree (outputs never go into the session fixture's tree)."""
import importlib.util
import os
import os.path as osp
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box, transform_matrix
from pyquaternion import Quaternion

from perception_kd.datasets import io as data_io
from perception_kd.datasets.io import load_info_file, load_points
from perception_kd.datasets.synthetic.lidar import lidar2ego_transform
from perception_kd.ocf import (
    KeyFrame,
    ObjectCompleteFrameBuilder,
    OCFOptions,
    make_ocf,
    scenes_from_infos,
)
from perception_kd.structures import (
    GlobalBoxes,
    global_to_lidar_boxes,
    invert,
    make_transform,
    transform_points,
    yaw_to_quat,
)

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location('pkd_tool_make_ocf',
                                                  REPO / 'tools' / 'make_ocf.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_root(tiny_root, tiny_infos, dst):
    """A root under ``dst`` sharing the tiny tree's tables and sweeps (symlinks), with its
    own keyframe clouds and info files (so tests may corrupt them and write next to them)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    os.symlink(osp.join(tiny_root, 'v1.0-mini'), dst / 'v1.0-mini')
    os.symlink(osp.join(tiny_root, 'sweeps'), dst / 'sweeps')
    shutil.copytree(osp.join(tiny_root, 'samples', 'LIDAR_TOP'), dst / 'samples' / 'LIDAR_TOP')
    for path in tiny_infos.values():
        shutil.copy(path, dst / osp.basename(path))
    return str(dst)


def ocf_files(out_dir):
    return sorted(name for name in os.listdir(out_dir) if name.endswith('.pcd.bin'))


@pytest.fixture(scope='module')
def built(tiny_root, tiny_infos, tmp_path_factory):
    """A copy of the tiny tree with the default OCFs built (2 scenes x 4 keyframes)."""
    root = copy_root(tiny_root, tiny_infos, tmp_path_factory.mktemp('ocf_built'))
    summary = make_ocf(root, progress=False)
    return root, summary


# ------------------------------------------------------------------- hand-made scene
L2E = lidar2ego_transform()     # nuScenes-like: rotated -90 deg and slightly tilted


def face_points(rng, size, face, n=300, inset=0.02):
    """Box-local points on one face ('front' +x, 'back' -x, 'left' +y) just inside."""
    length, width, height = size
    pts = rng.uniform(-0.5, 0.5, (n, 3)) * [length - 0.1, width - 0.1, height - 0.1]
    axis, sign = {'front': (0, 1), 'back': (0, -1), 'left': (1, 1)}[face]
    pts[:, axis] = sign * (size[axis] / 2 - inset)
    return pts


def hand_scene(lengths=(4.5, 4.5), faces=('back', 'front'), ego_x=(30.0, 75.0), seed=0):
    """Two keyframes of one car (track 'car') driving along +x while the ego passes it: the
    ego sees the faces given. A pedestrian only in keyframe 0; ground and far points."""
    rng = np.random.default_rng(seed)
    frames, clouds, locals_ = [], [], []
    for i, (length, face, ex) in enumerate(zip(lengths, faces, ego_x)):
        ego2global = make_transform(yaw_to_quat(0.05 * i), [ex, 8.0 + i, 0.1 * i])
        lidar2global = ego2global @ L2E
        size = np.array([length, 1.9, 1.6])
        centre = np.array([50.0 + 3.0 * i, 10.0, 0.9])
        yaw = 0.3 + 0.02 * i
        box2global = make_transform(yaw_to_quat(yaw), centre)
        local = face_points(rng, size, face)
        car = transform_points(box2global, local)
        ground = np.concatenate([rng.uniform([0, -30], [120, 50], (2000, 2)),
                                 np.zeros((2000, 1))], 1)          # z=0: below the boxes
        names, gboxes = ['car'], [(centre, size, yaw)]
        clouds_global = [car, ground]
        if i == 0:
            ped_centre, ped_size = np.array([40.0, 4.0, 0.95]), np.array([0.7, 0.7, 1.8])
            ped = transform_points(make_transform(yaw_to_quat(0.0), ped_centre),
                                   face_points(rng, ped_size, 'back', n=40))
            clouds_global.append(ped)
            names.append('ped')
            gboxes.append((ped_centre, ped_size, 0.0))
        xyz = transform_points(invert(lidar2global), np.concatenate(clouds_global))
        feats = np.stack([rng.uniform(0, 100, len(xyz)), rng.integers(0, 32, len(xyz))], 1)
        clouds.append(np.concatenate([xyz, feats], 1).astype(np.float32))
        glob = GlobalBoxes(np.array([b[0] for b in gboxes]),
                           np.array([b[1][[1, 0, 2]] for b in gboxes]),
                           np.array([yaw_to_quat(b[2]) for b in gboxes]),
                           np.full((len(gboxes), 2), np.nan))
        frames.append(KeyFrame(token=f'sample{i}', timestamp=float(i), lidar_path='',
                               lidar2ego=L2E, ego2global=ego2global,
                               boxes=global_to_lidar_boxes(glob, lidar2global)[:, :7],
                               instance_tokens=names, num_lidar_pts=[len(car), 40][:len(names)]))
        locals_.append(local)
    return frames, clouds, locals_


def to_box_local(frame, points, box=0):
    """LiDAR points -> box-local coordinates of annotation ``box`` of ``frame``."""
    gbox = frame.global_boxes()[box]
    xyz = transform_points(frame.lidar2global, points[:, :3].astype(np.float64))
    return transform_points(invert(make_transform(yaw_to_quat(gbox[6]), gbox[:3])), xyz)


def test_front_and_back_faces_both_in_the_ocf():
    frames, clouds, _ = hand_scene()
    builder = ObjectCompleteFrameBuilder()
    for ocf, frame, cloud in zip(builder.build(frames, clouds), frames, clouds):
        np.testing.assert_array_equal(ocf.points[:ocf.num_raw], cloud)
        assert ocf.points_before[0] == 300 and ocf.points_added[0] == 300
        local = to_box_local(frame, ocf.points)
        half = 4.5 / 2
        car = np.all(np.abs(local) <= [half, 0.95, 0.8], axis=1)
        xs = local[car, 0]
        assert (xs > half - 0.05).sum() == 300 and (xs < -half + 0.05).sum() == 300
    # the pedestrian, annotated once, gets nothing; keyframe 1 has no pedestrian box
    ocf0 = next(builder.build(frames, clouds, targets=[0]))
    assert ocf0.points_added.tolist() == [300, 0] and ocf0.points_before.tolist() == [300, 40]


def test_added_points_are_the_other_keyframes_points_in_box_frame():
    frames, clouds, locals_ = hand_scene()
    ocf = next(ObjectCompleteFrameBuilder().build(frames, clouds, targets=[1]))
    added = to_box_local(frames[1], ocf.points[ocf.num_raw:])
    np.testing.assert_allclose(added, locals_[0], atol=2e-5)        # float32 round trips
    np.testing.assert_array_equal(ocf.points[ocf.num_raw:, 3:],
                                  clouds[0][:300, 3:])             # intensity/ring carried


def test_crop_to_the_current_box():
    # the box is 1 m shorter in keyframe 1: side points of keyframe 0 overhang it
    frames, clouds, _ = hand_scene(lengths=(4.5, 3.5), faces=('left', 'left'))
    cropped = next(ObjectCompleteFrameBuilder().build(frames, clouds, targets=[1]))
    loose = next(ObjectCompleteFrameBuilder(crop_to_box=False).build(frames, clouds, targets=[1]))
    assert loose.points_added[0] == 300 and 0 < cropped.points_added[0] < 300
    for ocf, inside in ((cropped, True), (loose, False)):
        local = to_box_local(frames[1], ocf.points[ocf.num_raw:])
        in_box = np.all(np.abs(local) <= np.array([3.5, 1.9, 1.6]) / 2 + 1e-6, axis=1)
        assert in_box.all() == inside
    # the builder's own test (exactly, after float32 rounding) agrees
    gbox = frames[1].global_boxes()
    xyz = transform_points(frames[1].lidar2global, cropped.points[:, :3].astype(np.float64))
    mask = ObjectCompleteFrameBuilder().object_mask(xyz, gbox)
    assert mask[cropped.num_raw:, 0].all()


def test_crop_comes_before_the_cap():
    # the box is 1 m shorter in keyframe 1 and each box takes at most 100 added points: the
    # cap must choose among the points inside the current box, so all 100 places are used
    frames, clouds, _ = hand_scene(lengths=(4.5, 3.5), faces=('left', 'left'))
    ocf = next(ObjectCompleteFrameBuilder(max_points=400).build(frames, clouds, targets=[1]))
    assert ocf.points_before[0] == 300 and ocf.points_added[0] == 100
    local = to_box_local(frames[1], ocf.points[ocf.num_raw:])
    assert np.all(np.abs(local) <= np.array([3.5, 1.9, 1.6]) / 2 + 1e-6)


def test_window():
    frames, clouds, _ = hand_scene()
    frames, clouds = frames + frames, clouds + clouds     # 4 keyframes: car seen 4 times
    for window, added in ((0, 0), (1, 300), (2, 600), (None, 900)):
        ocf = next(ObjectCompleteFrameBuilder(window=window).build(frames, clouds, targets=[0]))
        assert ocf.points_added[0] == added
        if window == 0:
            np.testing.assert_array_equal(ocf.points, clouds[0])


def test_skip_empty():
    frames, clouds, _ = hand_scene()
    hidden = clouds[1][300:]                      # keyframe 1 without its car points
    filled = next(ObjectCompleteFrameBuilder().build(frames, [clouds[0], hidden], targets=[1]))
    assert filled.points_before[0] == 0 and filled.points_added[0] == 300
    skipped = next(ObjectCompleteFrameBuilder(skip_empty=True).build(
        frames, [clouds[0], hidden], targets=[1]))
    np.testing.assert_array_equal(skipped.points, hidden)


def test_enlarge_ground_voxel_cap_zero_ring():
    frames, clouds, _ = hand_scene()
    plain = next(ObjectCompleteFrameBuilder().build(frames, clouds, targets=[0]))
    # a 0.2 m enlargement reaches the ground (z=0, box bottom at 0.1 m) ...
    grown = next(ObjectCompleteFrameBuilder(enlarge=0.2).build(frames, clouds, targets=[0]))
    assert grown.points_before[0] > plain.points_before[0]
    # ... which the ground exclusion leaves alone
    no_ground = next(ObjectCompleteFrameBuilder(enlarge=0.2, ground_height=0.04).build(
        frames, clouds, targets=[0]))
    assert no_ground.points_before[0] == plain.points_before[0] == 300
    # voxel thinning: at most one added point per voxel, none in a voxel of an own point
    voxel = 0.5
    thin = next(ObjectCompleteFrameBuilder(voxel_size=voxel).build(frames, clouds, targets=[0]))
    assert 0 < thin.points_added[0] < 300
    local = to_box_local(frames[0], thin.points[thin.num_raw:])
    own = to_box_local(frames[0], clouds[0][:300])
    cells = {tuple(c) for c in np.floor(local / voxel).astype(int)}
    assert len(cells) == thin.points_added[0]
    assert not cells & {tuple(c) for c in np.floor(own / voxel).astype(int)}
    # cap: own points kept, added points fill up to max_points
    capped = next(ObjectCompleteFrameBuilder(max_points=350).build(frames, clouds, targets=[0]))
    assert capped.points_before[0] == 300 and capped.points_added.tolist() == [50, 0]
    np.testing.assert_array_equal(capped.points[:capped.num_raw], clouds[0])
    zero = next(ObjectCompleteFrameBuilder(zero_ring=True).build(frames, clouds, targets=[0]))
    assert (zero.points[:, 4] == 0).all()
    np.testing.assert_array_equal(zero.points[:, :4], plain.points[:, :4])
    with pytest.raises(ValueError, match='window'):
        OCFOptions(window=-1)


# ------------------------------------------------------------- the tiny synthetic tree
def devkit_in_boxes(nusc, info, points, grow=0.0):
    """(N, M) in-box mask of the sample's annotations, computed by the devkit in the
    global frame (the points are taken through the devkit's own calibration/pose)."""
    sd = nusc.get('sample_data', info['lidar_points']['sample_data_token'])
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    lidar2global = transform_matrix(pose['translation'], Quaternion(pose['rotation'])) @ \
        transform_matrix(cs['translation'], Quaternion(cs['rotation']))
    xyz = transform_points(lidar2global, points[:, :3].astype(np.float64))[:, :3].T
    masks = []
    for inst in info['instances']:
        ann = nusc.get('sample_annotation', inst['token'])
        box = Box(ann['translation'], np.asarray(ann['size']) + grow, Quaternion(ann['rotation']))
        masks.append(points_in_box(box, xyz))
    return np.stack(masks, 1)


def test_tiny_tree_ocf_properties(built, tiny_nusc):
    root, summary = built
    assert summary.frames_written == summary.frames == 8 and summary.scenes == 2
    assert summary.points_after > 2 * summary.points_before
    assert summary.count_mismatch <= 2 and summary.count_checked == summary.annotations
    data = load_info_file(osp.join(root, 'nuscenes_infos_train_ocf.pkl'))['data_list'] + \
        load_info_file(osp.join(root, 'nuscenes_infos_val_ocf.pkl'))['data_list']
    seen_elsewhere, rose = {}, 0
    for info in data:
        for inst in info['instances']:
            seen_elsewhere.setdefault(inst['instance_token'], []).append(inst['num_lidar_pts'])
    for info in data:
        raw = load_points(osp.join(root, 'samples/LIDAR_TOP', info['lidar_points']['lidar_path']))
        ocf = load_points(osp.join(root, info['ocf_path']))
        assert info['ocf_path'] == 'samples/LIDAR_TOP_OCF/' + info['lidar_points']['lidar_path']
        np.testing.assert_array_equal(ocf[:len(raw)], raw)
        # devkit boxes grown by 1 mm: points on a face may round either way
        raw_in = devkit_in_boxes(tiny_nusc, info, raw, grow=2e-3)
        ocf_in = devkit_in_boxes(tiny_nusc, info, ocf, grow=2e-3)
        # points outside every box: those of the raw frame, in order
        np.testing.assert_array_equal(ocf[~ocf_in.any(1)], raw[~raw_in.any(1)])
        # every added point sits inside a box (cropping)
        assert ocf_in[len(raw):].any(1).all()
        before, after = raw_in.sum(0), ocf_in.sum(0)
        assert (after >= before).all()
        for k, inst in enumerate(info['instances']):
            others = sum(seen_elsewhere[inst['instance_token']]) - inst['num_lidar_pts']
            if others > 0:       # points of the track in other keyframes: the count rises
                assert after[k] > before[k]
                rose += int(inst['num_lidar_pts'] <= 5)
    assert rose > 10      # many occluded/far annotations (<= 5 raw points) got filled


def test_window_zero_reproduces_the_raw_frames(tiny_root, tiny_infos, tmp_path):
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    summary = make_ocf(root, out=str(tmp_path / 'w0'), options=OCFOptions(window=0),
                       progress=False)
    assert summary.frames_written == 8 and summary.points_after == summary.points_before
    for name in ocf_files(tmp_path / 'w0'):
        assert (tmp_path / 'w0' / name).read_bytes() == \
            (Path(root) / 'samples/LIDAR_TOP' / name).read_bytes()


def test_killed_run_leaves_no_partial_file_and_rerun_completes(built, tiny_root, tiny_infos,
                                                               tmp_path, monkeypatch):
    reference = Path(built[0]) / 'samples/LIDAR_TOP_OCF'
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    out = Path(root) / 'samples/LIDAR_TOP_OCF'
    calls = []
    write_all = data_io._write_all

    def dying_write(file, data):
        calls.append(len(data))
        if len(calls) == 3:              # the 3rd keyframe of the first scene
            write_all(file, data[:len(data) // 2])
            raise KeyboardInterrupt('killed')
        write_all(file, data)

    monkeypatch.setattr(data_io, '_write_all', dying_write)
    with pytest.raises(KeyboardInterrupt):
        make_ocf(root, progress=False)
    names = ocf_files(out)
    assert len(names) == 2 and not [n for n in os.listdir(out) if n.endswith('.tmp')]
    for name in names:                    # whole files only
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert not list(Path(root).glob('*_ocf.pkl'))
    monkeypatch.setattr(data_io, '_write_all', write_all)
    summary = make_ocf(root, progress=False)
    assert summary.frames_skipped == 2 and summary.frames_written == 6
    assert ocf_files(out) == ocf_files(reference)
    for name in ocf_files(out):
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert make_ocf(root, progress=False).frames_skipped == 8    # nothing left to do


def test_corrupt_or_missing_cloud_names_the_file(tiny_root, tiny_infos, tmp_path):
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    raw_dir = Path(root) / 'samples/LIDAR_TOP'
    victim = sorted(raw_dir.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-6])
    name = re.escape(victim.name)
    with pytest.raises(ValueError, match=rf'{name}.*corrupt.*bytes'):
        make_ocf(root, progress=False)
    tool = load_tool()
    with pytest.raises(SystemExit, match=rf'error: raw LiDAR cloud .*{name}.*scene-'):
        tool.main([root, '--no-progress'])
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=rf'{name}.*not found'):
        make_ocf(root, progress=False)
    assert not list(Path(root).glob('*_ocf.pkl'))       # no info file points to a gap


def test_missing_root_version_and_infos(tiny_root, tiny_infos, tmp_path):
    tool = load_tool()
    with pytest.raises(SystemExit, match='nope does not exist'):
        tool.main([str(tmp_path / 'nope')])
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    with pytest.raises(SystemExit, match=r'v1.0-trainval not found.*v1.0-mini'):
        tool.main([root, '--version', 'v1.0-trainval'])
    for path in Path(root).glob('*.pkl'):
        path.unlink()
    with pytest.raises(SystemExit, match='no info files found.*create_data.py'):
        tool.main([root])


def test_tool_scenes_shards_and_infos(tiny_root, tiny_infos, tmp_path, capsys):
    tool = load_tool()
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    originals = {p: p.read_bytes() for p in Path(root).glob('*.pkl')}
    summary = tool.main([root, '--shard', '1/2', '--no-progress'])
    assert summary.scenes == 1 and summary.frames_written == 4
    assert summary.samples_without_ocf == 4
    printed = capsys.readouterr().out
    assert 'mean in-box points before' in printed and 'warning: 4 samples' in printed
    val = load_info_file(osp.join(root, 'nuscenes_infos_val_ocf.pkl'))
    assert all(info['ocf_path'] for info in val['data_list'])       # scene-0103 (val)
    train = load_info_file(osp.join(root, 'nuscenes_infos_train_ocf.pkl'))
    assert all(info['ocf_path'] is None for info in train['data_list'])
    assert train['metainfo']['ocf']['out'] == 'samples/LIDAR_TOP_OCF'
    assert train['metainfo']['ocf']['options'] == OCFOptions().to_dict()
    summary = tool.main([root, '--scenes', 'scene-0061', '--no-progress', '--workers', '2'])
    assert summary.frames_written == 4 and summary.samples_without_ocf == 0
    assert tool.main([root, '--infos-only', '--no-progress']).frames_written == 0
    assert {p: p.read_bytes() for p in originals} == originals     # originals untouched
    # other options into the same folder need --force
    with pytest.raises(SystemExit, match='other options.*--force'):
        tool.main([root, '--window', '1', '--no-progress'])
    assert tool.main([root, '--window', '1', '--force', '--no-progress']).frames_written == 8
    with pytest.raises(SystemExit, match="scenes \\['scene-9999'\\] are not in"):
        tool.main([root, '--scenes', 'scene-9999'])
    with pytest.raises(SystemExit, match='raw clouds'):
        tool.main([root, '--out', 'samples/LIDAR_TOP'])
    with pytest.raises(SystemExit, match='--shard'):
        tool.main([root, '--shard', '2/2'])


def test_two_workers_write_the_same_files(built, tiny_root, tiny_infos, tmp_path):
    root = copy_root(tiny_root, tiny_infos, tmp_path / 'root')
    make_ocf(root, out=str(tmp_path / 'out2'), workers=2, progress=False)
    reference = Path(built[0]) / 'samples/LIDAR_TOP_OCF'
    assert ocf_files(tmp_path / 'out2') == ocf_files(reference)
    for name in ocf_files(reference):
        assert (tmp_path / 'out2' / name).read_bytes() == (reference / name).read_bytes()
    data = load_info_file(osp.join(root, 'nuscenes_infos_val_ocf.pkl'))
    assert all(osp.isabs(info['ocf_path']) for info in data['data_list'])   # out of the root


def test_dataset_loads_ocf_points(built):
    from perception_kd.datasets import NuScenesDataset
    root, _ = built
    pipeline = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                dict(type='LoadOCFPoints', load_dim=5, use_dim=5),
                dict(type='LoadPointsFromMultiSweeps', sweeps_num=2, test_mode=True),
                dict(type='LoadAnnotations3D'),
                dict(type='BEVAugmentation'),
                dict(type='PointsRangeFilter', point_cloud_range=[-50, -50, -5, 50, 50, 3]),
                dict(type='PointShuffle'),
                dict(type='Pack3DDetInputs')]
    dataset = NuScenesDataset(data_root=root, ann_file='nuscenes_infos_val_ocf.pkl',
                              pipeline=pipeline, test_mode=True)
    out = dataset[1]
    points, ocf = out['inputs']['points'], out['inputs']['ocf_points']
    assert ocf.shape[1] == points.shape[1] == 5 and len(ocf) > len(points)
    # the same sweeps (time lag column) in both clouds
    assert sorted(set(ocf[:, 4].tolist())) == sorted(set(points[:, 4].tolist()))
    with open(osp.join(root, 'nuscenes_infos_val_ocf.pkl'), 'rb') as f:
        assert pickle.load(f)['data_list'][1]['ocf_path'].startswith('samples/LIDAR_TOP_OCF/')


def test_scenes_from_infos_groups_and_sorts(built):
    root, _ = built
    data = load_info_file(osp.join(root, 'nuscenes_infos_train.pkl'))['data_list']
    scenes = scenes_from_infos(list(reversed(data)), root)
    assert len(scenes) == 1 and len(scenes[0].frames) == 4
    times = [f.timestamp for f in scenes[0].frames]
    assert times == sorted(times) and scenes[0].info_indices == [3, 2, 1, 0]
    broken = [dict(data[0], instances=[{k: v for k, v in data[0]['instances'][0].items()
                                        if k != 'instance_token'}])]
    with pytest.raises(KeyError, match='instance_token'):
        scenes_from_infos(broken, root)
