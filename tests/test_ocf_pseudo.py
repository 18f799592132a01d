"""Semi-supervised OCFs: pseudo labels from detection results (reading, LiDAR-frame boxes,
linking over time), ``make_ocf`` / ``tools/make_ocf.py --pseudo-labels`` on the tiny tree,
``tools/split_infos.py`` and how the dataset exposes unlabelled samples."""
import importlib.util
import json
import os.path as osp
from pathlib import Path

import numpy as np
import pytest

from perception_kd.datasets.io import load_info_file, load_points
from perception_kd.datasets.synthetic.lidar import lidar2ego_transform
from perception_kd.evaluation.nuscenes_format import (
    NUSCENES_DETECTION_CLASSES,
    predictions_to_results,
)
from perception_kd.ocf import (
    FrameDetections,
    KeyFrame,
    ObjectCompleteFrameBuilder,
    PseudoLabelOptions,
    link_tracks,
    pseudo_label_scene,
    scenes_from_infos,
)
from perception_kd.ocf.frames import SceneFrames
from perception_kd.ocf.make import MANIFEST
from perception_kd.structures import GlobalBoxes, limit_yaw, make_transform, yaw_to_quat

REPO = Path(__file__).resolve().parents[1]
L2E = lidar2ego_transform()     # nuScenes-like: rotated -90 deg and slightly tilted


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'pkd_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def result_box(centre, lwh=(4.5, 1.9, 1.6), yaw=0.3, name='car', score=0.9, velocity=(0.0, 0.0)):
    """A result box as the nuScenes results JSON stores it (global frame, size w, l, h)."""
    return dict(translation=list(map(float, centre)), size=[lwh[1], lwh[0], lwh[2]],
                rotation=yaw_to_quat(yaw).tolist(), velocity=list(velocity),
                detection_name=name, detection_score=score, attribute_name='')


def keyframes(ego_xs, dt=0.5):
    """KeyFrames of an ego driving along global +x (positions ``ego_xs``), no boxes."""
    return [
        KeyFrame(
            token=f's{i}',
            timestamp=i * dt,
            lidar_path='',
            lidar2ego=L2E,
            ego2global=make_transform(yaw_to_quat(0.0), [x, 0.0, 0.0]),
            boxes=np.zeros((0, 7)),
        )
        for i, x in enumerate(ego_xs)
    ]


def scene_of(frames):
    return SceneFrames('scene_token', 'scene-test', frames, list(range(len(frames))))


def detections(results, frames, score_thr=0.0):
    return [FrameDetections.from_results(results[f.token], f.token, f.timestamp, score_thr)
            for f in frames]


def tracks_of(pseudo):
    return [list(f.instance_tokens) for f in pseudo.scene.frames]


# ----------------------------------------------------------------------------- linking
def test_static_object_links_across_ego_motion_not_in_lidar_coordinates():
    frames = keyframes([0.0, 10.0])                    # the ego drives 10 m forward
    results = {f.token: [result_box([30.0, 5.0, 1.0])] for f in frames}   # a parked car
    pseudo = pseudo_label_scene(scene_of(frames), results)
    tokens = tracks_of(pseudo)
    assert pseudo.tracks == 1 and tokens[0] == tokens[1] and len(tokens[0][0]) == 32
    # the same detections in each keyframe's LiDAR frame: the car seems to move 10 m,
    # more than 2 x 4.5 m, so ignoring the ego motion would break the track
    dets = detections(results, frames)
    lidar = [FrameDetections(d.sample_token, d.timestamp, f.boxes[:, :3].copy(), d.size,
                             d.rotation, d.velocity, d.names, d.scores)
             for d, f in zip(dets, pseudo.scene.frames)]
    assert np.linalg.norm(lidar[0].translation[0] - lidar[1].translation[0]) == \
        pytest.approx(10.0, abs=1e-6)
    assert [ids.tolist() for ids in link_tracks(dets)] == [[0], [0]]
    assert [ids.tolist() for ids in link_tracks(lidar)] == [[0], [1]]


def test_classes_never_link_and_greedy_nearest_first():
    frames = keyframes([0.0, 0.0])
    results = {'s0': [result_box([10, 0, 1], name='car'), result_box([20, 0, 1], name='car'),
                      result_box([30, 0, 1], name='truck', score=0.8)],
               's1': [result_box([30, 0, 1], name='car'),        # where the truck was
                      result_box([11, 0, 1], name='car', score=0.5),
                      result_box([19, 0, 1], name='car', score=0.6)]}
    dets = detections(results, frames)      # sorted by score: s1 = car@30, car@19, car@11
    ids = link_tracks(dets)
    assert ids[0].tolist() == [0, 1, 2]
    # car@30 (nearest car: 10 m away, gate 9 m) starts a track, not the truck's; car@19 is
    # nearest to car@20, car@11 to car@10
    assert ids[1].tolist() == [3, 1, 0]


def test_jump_beyond_link_factor_times_box_size_starts_a_new_track():
    frames = keyframes([0.0, 0.0])
    for jump, factor, linked in ((8.9, 2.0, True), (9.1, 2.0, False), (9.1, 2.5, True)):
        results = {'s0': [result_box([10, 0, 1])], 's1': [result_box([10 + jump, 0, 1])]}
        # max(l, w) = 4.5 for both boxes: the gate is factor * 4.5
        pseudo = pseudo_label_scene(
            scene_of(frames), results, PseudoLabelOptions(link_factor=factor)
        )
        assert (pseudo.tracks == 1) == linked, (jump, factor)
    # the larger box of the two sets the gate
    results = {'s0': [result_box([10, 0, 1], lwh=(1.0, 1.0, 1.0))],
               's1': [result_box([17, 0, 1], lwh=(4.0, 1.0, 1.0))]}
    assert pseudo_label_scene(scene_of(frames), results).tracks == 1


def test_velocity_advances_the_previous_centre():
    frames = keyframes([0.0, 0.0], dt=1.0)
    ped = dict(lwh=(0.7, 0.7, 1.8), name='pedestrian')           # gate 1.4 m
    results = {'s0': [result_box([10, 0, 1], velocity=(2.0, 0.0), **ped)],
               's1': [result_box([12, 0, 1], velocity=(2.0, 0.0), **ped)]}     # walked 2 m
    assert pseudo_label_scene(scene_of(frames), results).tracks == 1
    no_velocity = PseudoLabelOptions(use_velocity=False)
    assert pseudo_label_scene(scene_of(frames), results, no_velocity).tracks == 2


def test_low_scores_are_dropped_and_tokens_are_stable():
    frames = keyframes([0.0, 5.0, 10.0])
    results = {f.token: [result_box([30, 5, 1]), result_box([60, -5, 1], score=0.2)]
               for f in frames}
    pseudo = pseudo_label_scene(scene_of(frames), results)
    assert pseudo.detections == 6 and pseudo.kept == 3 and pseudo.tracks == 1
    assert all(len(f.boxes) == 1 for f in pseudo.scene.frames)
    assert all(i['detection_score'] == 0.9 for insts in pseudo.instances.values() for i in insts)
    low = pseudo_label_scene(scene_of(frames), results, PseudoLabelOptions(score_thr=0.1))
    assert low.kept == 6 and low.tracks == 2
    again = pseudo_label_scene(scene_of(frames), results, PseudoLabelOptions(score_thr=0.1))
    assert tracks_of(again) == tracks_of(low)
    assert tracks_of(low)[0][0] == tracks_of(pseudo)[0][0]    # same first detection, same token
    with pytest.raises(ValueError, match='score_thr'):
        PseudoLabelOptions(score_thr=1.5)


def test_every_keyframe_needs_predictions_and_boxes_need_their_fields():
    frames = keyframes([0.0, 5.0])
    with pytest.raises(KeyError, match=r'no predictions for 1 of the 2 keyframes.*s1'):
        pseudo_label_scene(scene_of(frames), {'s0': []}, where='res.json')
    box = result_box([1, 2, 3])
    del box['rotation']
    with pytest.raises(KeyError, match=r"res.json: box 0 of sample s0 has no \['rotation'\]"):
        pseudo_label_scene(scene_of(frames), {'s0': [box], 's1': []}, where='res.json')
    with pytest.raises(ValueError, match='not classes'):
        pseudo_label_scene(scene_of(frames), {'s0': [result_box([1, 2, 3], name='ufo')],
                                              's1': []})


# ---------------------------------------------------------------- boxes and frames
def test_result_boxes_to_lidar_frame_round_trip():
    rng = np.random.default_rng(0)
    ego2global = make_transform(yaw_to_quat(0.7), [300.0, 900.0, 0.3])
    frame = KeyFrame(token='s', timestamp=0.0, lidar_path='', lidar2ego=L2E,
                     ego2global=ego2global, boxes=np.zeros((0, 7)))
    # LiDAR-frame boxes -> results JSON (as tools/test.py writes it) -> LiDAR-frame boxes
    boxes = np.concatenate([rng.uniform(-40, 40, (6, 3)), rng.uniform(0.5, 5, (6, 3)),
                            rng.uniform(-np.pi, np.pi, (6, 1)), rng.uniform(-3, 3, (6, 2))], 1)
    results = predictions_to_results('s', boxes, np.full(6, 0.9), np.arange(6),
                                     NUSCENES_DETECTION_CLASSES, frame.lidar2global)
    back = FrameDetections.from_results(json.loads(json.dumps(results)), 's', 0.0)
    back = back.lidar_boxes(frame.lidar2global)
    np.testing.assert_allclose(back[:, :6], boxes[:, :6], atol=1e-9)
    np.testing.assert_allclose(limit_yaw(back[:, 6] - boxes[:, 6]), 0, atol=1e-9)
    # the results format keeps only the global (vx, vy): the LiDAR's tilt costs ~1e-4 m/s
    np.testing.assert_allclose(back[:, 7:9], boxes[:, 7:9], atol=2e-3)
    # upright global boxes (annotations) -> LiDAR frame as the infos store them -> the
    # builder's KeyFrame.global_boxes() gives them back
    centres = rng.uniform(-40, 40, (5, 3)) + [300, 900, 0]
    lwh, yaws = rng.uniform(0.5, 5, (5, 3)), rng.uniform(-np.pi, np.pi, 5)
    upright = [result_box(c, s, y) for c, s, y in zip(centres, lwh, yaws)]
    lidar = FrameDetections.from_results(upright, 's', 0.0).lidar_boxes(frame.lidar2global)
    glob = KeyFrame(token='s', timestamp=0.0, lidar_path='', lidar2ego=L2E, ego2global=ego2global,
                    boxes=lidar[:, :7], instance_tokens='abcde').global_boxes()
    np.testing.assert_allclose(glob[:, :6], np.concatenate([centres, lwh], 1), atol=1e-9)
    np.testing.assert_allclose(limit_yaw(glob[:, 6] - yaws), 0, atol=1e-9)
    gboxes = GlobalBoxes(centres, lwh[:, [1, 0, 2]], np.stack([yaw_to_quat(y) for y in yaws]),
                         np.zeros((5, 2)))
    from perception_kd.structures import global_to_lidar_boxes
    np.testing.assert_array_equal(lidar, global_to_lidar_boxes(gboxes, frame.lidar2global))


# ------------------------------------------------------------- make_ocf on the tiny tree
def unlabelled_infos(root):
    return load_info_file(osp.join(root, 'nuscenes_infos_train_unlabelled_ocf_semi.pkl'))


def test_make_ocf_with_pseudo_labels_patches_the_pseudo_tracks(tiny_semi):
    root, summary = tiny_semi['root'], tiny_semi['summary']
    assert summary.frames_written == 8 and summary.pseudo is not None
    assert 'pseudo labels' in summary.format() and 'kept' in summary.format()
    scene = next(iter(summary.pseudo.scenes.values()))
    assert scene.scene.name == 'scene-0103' and scene.kept == scene.detections - 4   # 0.1 dropped
    data = unlabelled_infos(root)
    assert data['metainfo']['ocf']['pseudo_labels']['options']['score_thr'] == 0.3
    manifest = json.loads((Path(root) / 'samples/LIDAR_TOP_OCF_SEMI' / MANIFEST).read_text())
    assert manifest['pseudo_labels']['file'] == tiny_semi['results']
    assert manifest['pseudo_labels']['scenes'] == ['scene-0103']
    assert len(manifest['pseudo_labels']['sha256']) == 64
    rose = 0
    pseudo_infos = [dict(info, instances=info['pseudo_instances']) for info in data['data_list']]
    frames = scenes_from_infos(pseudo_infos, root)[0].frames
    builder = ObjectCompleteFrameBuilder()
    for info, frame in zip(data['data_list'], frames):
        assert frame.token == info['token']
        assert info['labelled'] is False and info['instances'] == []
        original = tiny_semi['infos'][info['token']]
        valid = [
            i for i in original['instances'] if i['bbox_3d_isvalid'] and i['bbox_label_3d'] >= 0
        ]
        assert len(info['pseudo_instances']) == len(valid)
        assert set(original['instances'][0]) <= set(info['pseudo_instances'][0])
        # oracle detections: the pseudo boxes are the annotations' LiDAR-frame boxes
        np.testing.assert_allclose([i['bbox_3d'] for i in info['pseudo_instances']],
                                   [i['bbox_3d'] for i in valid], atol=1e-5)
        raw = load_points(osp.join(root, 'samples/LIDAR_TOP', info['lidar_points']['lidar_path']))
        ocf = load_points(osp.join(root, info['ocf_path']))
        assert info['ocf_path'].startswith('samples/LIDAR_TOP_OCF_SEMI/')
        np.testing.assert_array_equal(ocf[:len(raw)], raw)
        gboxes = frame.global_boxes()
        l2g = frame.lidar2global
        raw_in = builder.object_mask(
            raw[:, :3].astype(np.float64) @ l2g[:3, :3].T + l2g[:3, 3], gboxes
        )
        ocf_in = builder.object_mask(
            ocf[:, :3].astype(np.float64) @ l2g[:3, :3].T + l2g[:3, 3], gboxes
        )
        np.testing.assert_array_equal(ocf[~ocf_in.any(1)], raw[~raw_in.any(1)])
        assert (ocf_in.sum(0) >= raw_in.sum(0)).all()
        rose += int((ocf_in.sum(0) > raw_in.sum(0)).sum())
    assert rose > 20
    # the labelled scene keeps its annotations and gets no marker
    labelled = load_info_file(osp.join(root, 'nuscenes_infos_train_labelled_ocf_semi.pkl'))
    assert all('labelled' not in info and 'pseudo_instances' not in info and info['instances']
               for info in labelled['data_list'])


def test_tool_pseudo_labels_rerun_options_and_errors(tiny_semi, tmp_path, capsys):
    tool = load_tool('make_ocf')
    root = tiny_semi['root']
    infos = [osp.join(root, f'nuscenes_infos_train_{p}.pkl') for p in ('labelled', 'unlabelled')]
    base = [root, '--out', 'samples/LIDAR_TOP_OCF_SEMI', '--info-suffix', '_ocf_semi',
            '--infos', *infos, '--no-progress']
    summary = tool.main(base + ['--pseudo-labels', tiny_semi['results']])
    assert summary.frames_skipped == 8 and summary.frames_written == 0
    assert 'pseudo labels' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='other options.*--force'):
        tool.main(base + ['--pseudo-labels', tiny_semi['results'], '--score-thr', '0.5'])
    with pytest.raises(SystemExit, match='pseudo labels.*same --pseudo-labels'):
        tool.main(base + ['--pseudo-labels', tiny_semi['results'], '--link-factor', '3',
                          '--infos-only'])
    with pytest.raises(SystemExit, match=r"unlabelled.*--pseudo-labels RESULTS.json"):
        tool.main(base)
    with pytest.raises(SystemExit, match='pseudo-label file .*not found'):
        tool.main(base + ['--pseudo-labels', str(tmp_path / 'nothing.json')])
    # unsplit infos: --pseudo-scenes names the unlabelled scene; no scene -> an error
    out = str(tmp_path / 'ocf')
    plain = [root, '--out', out, '--infos', osp.join(root, 'nuscenes_infos_all.pkl'),
             '--info-suffix', '_x', '--no-progress', '--pseudo-labels', tiny_semi['results']]
    with pytest.raises(SystemExit, match='no scene is unlabelled'):
        tool.main(plain)
    with pytest.raises(SystemExit, match='needs --pseudo-labels'):
        tool.main(plain[:-2] + ['--pseudo-scenes', 'scene-0103'])
    summary = tool.main(plain + ['--pseudo-scenes', 'scene-0103', '--score-thr', '0.05'])
    assert summary.frames_written == 8 and summary.pseudo.scenes
    data = load_info_file(osp.join(root, 'nuscenes_infos_all_x.pkl'))['data_list']
    marked = [info for info in data if info.get('labelled') is False]
    assert len(marked) == 4 and all(info['instances'] for info in marked)  # kept as they were
    assert all(
        any(i['detection_score'] == 0.1 for i in info['pseudo_instances']) for info in marked
    )


def test_split_infos_tool(tiny_semi, tmp_path, capsys):
    tool = load_tool('split_infos')
    src = osp.join(tiny_semi['root'], 'nuscenes_infos_all.pkl')
    before = Path(src).read_bytes()
    outs = [str(tmp_path / 'l.pkl'), str(tmp_path / 'u.pkl')]
    args = [src, '--labelled-fraction', '0.5', '--seed', '3', '--root', tiny_semi['root'],
            '--out-labelled', outs[0], '--out-unlabelled', outs[1]]
    result = tool.main(args)
    assert 'labelled: 1 scenes, 4 samples' in capsys.readouterr().out
    assert Path(src).read_bytes() == before
    part_l, part_u = (load_info_file(p) for p in outs)
    assert part_l['metainfo'] == part_u['metainfo']          # ConcatDataset needs equal metainfo
    assert part_l['metainfo']['semi_split']['labelled_scenes'] == result.labelled_scenes
    assert sorted(result.labelled_scenes + result.unlabelled_scenes) == ['scene-0061', 'scene-0103']
    for part in (part_l, part_u):
        assert [i['sample_idx'] for i in part['data_list']] == [0, 1, 2, 3]
        assert [i['prev'] for i in part['data_list']] == [-1, 0, 1, 2]
        assert [i['next'] for i in part['data_list']] == [1, 2, 3, -1]
    assert all(i['labelled'] is False and i['instances'] == [] for i in part_u['data_list'])
    assert all('labelled' not in i and i['instances'] for i in part_l['data_list'])
    with pytest.raises(SystemExit, match='exists; pass --force'):
        tool.main(args)
    again = tool.main(args + ['--force'])
    assert again.labelled_scenes == result.labelled_scenes               # seeded
    with pytest.raises(SystemExit, match=r"scenes \['scene-9'\] are not in"):
        tool.main(args[:1] + ['--labelled-scenes', 'scene-9', '--out-labelled', outs[0], '--force'])
    with pytest.raises(SystemExit, match='already holds unlabelled'):
        tool.main([outs[1], '--labelled-fraction', '0.5', '--out-labelled', str(tmp_path / 'x.pkl'),
                   '--out-unlabelled', str(tmp_path / 'y.pkl')])


def test_dataset_gives_unlabelled_samples_their_pseudo_boxes(tiny_semi):
    from perception_kd.datasets import NuScenesDataset
    root = tiny_semi['root']
    pipeline = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                dict(type='LoadOCFPoints', load_dim=5, use_dim=5),
                dict(type='LoadAnnotations3D'),
                dict(type='BEVAugmentation'),
                dict(type='Pack3DDetInputs', keys=['points', 'ocf_points', 'gt_bboxes_3d',
                                                   'gt_labels_3d'])]
    unlabelled = NuScenesDataset(
        data_root=root, ann_file='nuscenes_infos_train_unlabelled_ocf_semi.pkl', pipeline=pipeline
    )
    labelled = NuScenesDataset(
        data_root=root, ann_file='nuscenes_infos_train_labelled_ocf_semi.pkl', pipeline=pipeline
    )
    out = unlabelled[0]
    info = unlabelled.get_data_info(0)
    sample = out['data_samples']
    assert sample.metainfo['labelled'] is False
    assert len(sample.gt_instances_3d) == len(info['pseudo_instances']) > 0
    np.testing.assert_allclose(info['ann_info']['gt_bboxes_3d'][:, :7],
                               [i['bbox_3d'] for i in info['pseudo_instances']], atol=1e-4)
    assert labelled[0]['data_samples'].metainfo['labelled'] is True
    # an unlabelled sample without pseudo boxes (split, no OCF run yet) cannot train, but
    # can be predicted (its pseudo labels)
    with pytest.raises(KeyError, match='unlabelled.*no pseudo_instances.*--pseudo-labels'):
        NuScenesDataset(data_root=root, ann_file='nuscenes_infos_train_unlabelled.pkl',
                        pipeline=pipeline)
    test = NuScenesDataset(data_root=root, ann_file='nuscenes_infos_train_unlabelled.pkl',
                           pipeline=pipeline[:1] + pipeline[-1:], test_mode=True)
    assert len(test) == 4 and len(test.get_data_info(0)['ann_info']['gt_labels_3d']) == 0
    assert test[0]['data_samples'].metainfo['labelled'] is False
