"""Shared fixtures: a tiny synthetic nuScenes-format tree and its info files.

Built once per test session (a few seconds) in a temporary directory.
"""
import os

import pytest

os.environ.setdefault('MPLBACKEND', 'Agg')

TINY = dict(version='v1.0-mini', scenes=2, keyframes=4, lidar_hz=10, image_size=(320, 180),
            seed=7, workers=1)


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory):
    """Root of a 2-scene synthetic v1.0-mini tree (scene-0061 train, scene-0103 val)."""
    from perception_kd.datasets.synthetic import SyntheticConfig, generate_dataset
    root = tmp_path_factory.mktemp('nuscenes_tiny')
    generate_dataset(SyntheticConfig(out=str(root), **TINY), progress=False)
    return str(root)


@pytest.fixture(scope='session')
def tiny_infos(tiny_root):
    """{'train': path, 'val': path} of the tiny tree's info files (up to 3 sweeps)."""
    from perception_kd.datasets.infos import create_nuscenes_infos
    return create_nuscenes_infos(tiny_root, version='v1.0-mini', max_sweeps=3, progress=False)


@pytest.fixture(scope='session')
def tiny_nusc(tiny_root):
    """The unmodified devkit's NuScenes object over the tiny tree."""
    from nuscenes.nuscenes import NuScenes
    return NuScenes(version='v1.0-mini', dataroot=tiny_root, verbose=False)


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    """Each test starts and ends with the same mmengine default scopes.

    A Runner registers its default scope under its experiment name (second-resolution
    timestamps) and mmengine returns an existing instance for a known name, so without
    this a Runner of one test could inherit the scope another test left behind.
    """
    from mmengine.registry import DefaultScope
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture(scope='session')
def tiny_semi(tiny_root, tiny_infos, tmp_path_factory):
    """A semi-supervised copy of the tiny tree (tables, sweeps and raw clouds symlinked):
    both scenes' infos split into ``nuscenes_infos_train_labelled.pkl`` (scene-0061) and
    ``nuscenes_infos_train_unlabelled.pkl`` (scene-0103, ``tools/split_infos.py``), oracle
    pseudo labels of scene-0103 (its valid annotations as detections of score 0.9, plus
    one far-off box of score 0.1 per keyframe), and the OCFs of ``make_ocf`` with them in
    ``samples/LIDAR_TOP_OCF_SEMI`` with infos ``*_ocf_semi.pkl``.

    Returns a dict: ``root``, ``results`` (the JSON), ``infos`` (the unsplit infos by
    sample token), ``summary`` (the OCF summary).
    """
    import json
    import pickle

    import numpy as np

    from perception_kd.datasets.infos import dump_atomic
    from perception_kd.datasets.split import split_info_file
    from perception_kd.evaluation.nuscenes_format import (
        NUSCENES_DETECTION_CLASSES,
        gt_to_predictions,
        lidar2global_of_info,
        predictions_to_results,
    )
    from perception_kd.ocf import make_ocf

    root = tmp_path_factory.mktemp('nuscenes_semi')
    for name in ('v1.0-mini', 'sweeps'):
        os.symlink(os.path.join(tiny_root, name), root / name)
    (root / 'samples').mkdir()
    os.symlink(os.path.join(tiny_root, 'samples', 'LIDAR_TOP'), root / 'samples' / 'LIDAR_TOP')
    data = {}
    for split in ('train', 'val'):
        with open(tiny_infos[split], 'rb') as file:
            data[split] = pickle.load(file)
    offset = len(data['train']['data_list'])               # val indices after train's
    shifted = [dict(info, **{key: info[key] + offset if info[key] >= 0 else -1
                             for key in ('sample_idx', 'prev', 'next')})
               for info in data['val']['data_list']]
    both = dict(data['train'], data_list=data['train']['data_list'] + shifted)
    dump_atomic(both, str(root / 'nuscenes_infos_all.pkl'))
    dump_atomic(data['val'], str(root / 'nuscenes_infos_val.pkl'))    # configs' val split
    split = split_info_file(str(root / 'nuscenes_infos_all.pkl'), labelled_scenes=['scene-0061'],
                            out_labelled=str(root / 'nuscenes_infos_train_labelled.pkl'),
                            out_unlabelled=str(root / 'nuscenes_infos_train_unlabelled.pkl'))
    results = {}
    for info in data['val']['data_list']:                   # scene-0103
        pred = gt_to_predictions(info)
        boxes = np.concatenate([pred.bboxes_3d.numpy(), [[200.0, 0, 0, 4, 2, 1.5, 0, 0, 0]]])
        scores = np.append(np.full(len(pred.scores_3d), 0.9), 0.1)
        labels = np.append(pred.labels_3d.numpy(), 0)
        results[info['token']] = predictions_to_results(
            info['token'], boxes, scores, labels, NUSCENES_DETECTION_CLASSES,
            lidar2global_of_info(info))
    results_path = root / 'results_nusc.json'
    results_path.write_text(json.dumps(dict(meta=dict(use_lidar=True), results=results)))
    summary = make_ocf(str(root), out='samples/LIDAR_TOP_OCF_SEMI', info_suffix='_ocf_semi',
                       infos=[split.labelled_path, split.unlabelled_path],
                       pseudo_labels=str(results_path), progress=False)
    return dict(root=str(root), results=str(results_path), summary=summary,
                infos={info['token']: info for info in both['data_list']})
