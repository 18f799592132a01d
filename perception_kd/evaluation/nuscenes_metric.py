"""nuScenes detection metric: predictions -> results JSON -> the devkit's DetectionEval.

Example (in a config)::

    val_evaluator = dict(type='NuScenesDetMetric', data_root='data/nuscenes/',
                         ann_file='nuscenes_infos_val.pkl', version='v1.0-mini')
"""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp
import tempfile
from collections.abc import Sequence

import mmengine
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from perception_kd.registry import METRICS

from .nuscenes_format import (
    NUSCENES_DETECTION_CLASSES,
    classes_from_metainfo,
    lidar2global_of_info,
    predictions_to_results,
)

_TP_NAMES = {'trans_err': 'mATE', 'scale_err': 'mASE', 'orient_err': 'mAOE', 'vel_err': 'mAVE',
             'attr_err': 'mAAE'}


def default_eval_set(version: str) -> str:
    """The devkit split to evaluate for a version: mini_val, val or test."""
    if version.endswith('mini'):
        return 'mini_val'
    if version.endswith('test'):
        return 'test'
    if version.endswith('trainval'):
        return 'val'
    raise ValueError(f'cannot derive the evaluation split from version {version!r}; pass eval_set')


@METRICS.register_module()
class NuScenesDetMetric(BaseMetric):
    """nuScenes detection metric (mAP, NDS, TP errors) through the official devkit.

    Args:
        data_root: nuScenes root (the devkit loads the tables from ``<data_root>/<version>``).
        ann_file: info file of the evaluated split (``docs/data_format.md``); a relative path
            is looked up under ``data_root`` first, then as given.
        version: nuScenes version, e.g. ``v1.0-mini`` or ``v1.0-trainval``.
        eval_set: devkit split; default ``mini_val`` for mini, ``val`` for trainval.
        jsonfile_prefix: directory for the results JSON and the devkit's outputs (kept;
            :attr:`result_path` points at the JSON). Default: a temporary directory.
        eval_config: name of a devkit detection config (``config_factory``).
        score_threshold: predictions scoring below it are dropped.
        max_boxes_per_sample: keep at most this many top-scoring boxes per sample (the
            devkit refuses more than 500).
        classes: detection names indexed by ``labels_3d``; default: the dataset's
            ``classes``, else the info file's ``metainfo['categories']``, else the 10
            nuScenes classes in mmdet3d 1.x's order.
        modality: the results file's meta flags, default ``use_lidar=True``.
        format_only: only write the results JSON, no evaluation: one entry per sample of
            ``ann_file`` (not of ``eval_set``; the devkit tables are not loaded), e.g. for
            the test split, or the pseudo labels of unlabelled training scenes.
    """
    default_prefix = 'NuScenes'

    def __init__(self, data_root: str, ann_file: str, version: str = 'v1.0-mini',
                 eval_set: str | None = None, jsonfile_prefix: str | None = None,
                 eval_config: str = 'detection_cvpr_2019', score_threshold: float = 0.0,
                 max_boxes_per_sample: int = 500, classes: Sequence[str] | None = None,
                 modality: dict[str, bool] | None = None, format_only: bool = False,
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.data_root = data_root
        self.ann_file = ann_file
        self.version = version
        self.eval_set = eval_set or default_eval_set(version)
        self.jsonfile_prefix = jsonfile_prefix
        self.eval_config = eval_config
        self.score_threshold = score_threshold
        self.max_boxes_per_sample = max_boxes_per_sample
        self.classes = list(classes) if classes is not None else None
        self.modality = dict(use_lidar=True, use_camera=False, use_radar=False, use_map=False,
                             use_external=False)
        self.modality.update(modality or {})
        self.format_only = format_only
        self.result_path: str | None = None
        self._nusc = None

    # ------------------------------------------------------------------ start-up check
    def check_setup(self) -> None:
        """Check, without loading the devkit tables, that evaluating will find what it
        needs: the info file and, unless ``format_only``, the tables of ``version`` under
        ``data_root`` and an ``eval_set`` of that version. ``tools/train.py`` and
        ``tools/test.py`` call it before building the Runner, so that a wrong setting is
        found at start-up, not at the first validation after a whole epoch.

        Raises:
            FileNotFoundError: the info file or the version's tables are missing.
            ValueError: ``eval_set`` is not a split of ``version``.
        """
        path = self._ann_path()
        if not osp.isfile(path):
            raise FileNotFoundError(f'NuScenesDetMetric: info file {path} not found (ann_file='
                                    f'{self.ann_file!r}, data_root={self.data_root!r}); build it '
                                    f'with `python tools/create_data.py {self.data_root} '
                                    f'--version {self.version}`')
        if self.format_only:
            return
        tables = osp.join(self.data_root, self.version)
        needed = ('sample.json', 'scene.json', 'sample_annotation.json')
        missing = [name for name in needed if not osp.isfile(osp.join(tables, name))]
        if missing:
            have = sorted(name for name in os.listdir(self.data_root)
                          if name.startswith('v1.0') and osp.isdir(osp.join(self.data_root, name))
                          ) if osp.isdir(self.data_root) else []
            raise FileNotFoundError(
                f'NuScenesDetMetric: version={self.version!r} but {tables} '
                + ('does not exist' if not osp.isdir(tables) else f'has no {", ".join(missing)}')
                + (f'; this data root has {", ".join(have)}: set the evaluator\'s version '
                   f'(--cfg-options val_evaluator.version={have[0]})' if have else
                   '; check data_root'))
        from nuscenes.utils.splits import is_predefined_split
        if is_predefined_split(self.eval_set):
            allowed = {'mini': ('mini_train', 'mini_val'), 'test': ('test',)}.get(
                self.version.rsplit('-', 1)[-1], ('train', 'val', 'train_detect', 'train_track'))
            if self.eval_set not in allowed:
                raise ValueError(f'NuScenesDetMetric: eval_set={self.eval_set!r} is not a split '
                                 f'of {self.version} (one of {", ".join(allowed)})')
        elif not osp.isfile(osp.join(tables, 'splits.json')):
            raise FileNotFoundError(f'NuScenesDetMetric: eval_set={self.eval_set!r} is not a '
                                    f'predefined split and {tables}/splits.json does not exist')

    # ------------------------------------------------------------------ collection
    def process(self, data_batch, data_samples: Sequence) -> None:
        """Collect each sample's token and predictions (numpy, LiDAR frame)."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            token = sample.get('token')
            if token is None:
                raise KeyError('a data sample has no "token" in its metainfo; the dataset must '
                               'put the nuScenes sample token there')
            pred = sample.get('pred_instances_3d', sample.get('_pred_instances_3d'))
            if pred is None:
                raise KeyError(
                    f'sample {token} has no pred_instances_3d; the model must return '
                    'data samples with pred_instances_3d (bboxes_3d, scores_3d, labels_3d)'
                )
            if isinstance(pred, BaseDataElement):
                pred = pred.to_dict()
            self.results.append(dict(token=token, bboxes=_numpy(pred['bboxes_3d'], np.float64),
                                     scores=_numpy(pred['scores_3d'], np.float64),
                                     labels=_numpy(pred['labels_3d'], np.int64)))

    # ------------------------------------------------------------------ evaluation
    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        infos = self._load_infos()
        classes = self._classes(infos.get('metainfo', {}))
        lidar2global = {info['token']: lidar2global_of_info(info) for info in infos['data_list']}
        if self.format_only:  # every sample of the info file; no devkit tables needed
            nusc, split_tokens = None, [info['token'] for info in infos['data_list']]
            split_name = f'info file {self._ann_path()}'
        else:
            nusc = self._load_nusc()
            split_tokens = self._split_tokens(nusc)
            split_name = f'split {self.eval_set}'

        per_sample: dict[str, list[dict]] = {token: [] for token in split_tokens}
        unknown = 0
        for res in results:
            token = res['token']
            if token not in per_sample:
                unknown += 1
                continue
            if token not in lidar2global:
                raise KeyError(
                    f'sample {token} is in split {self.eval_set} but not in the info file '
                    f'{self._ann_path()}; evaluate with the info file of that split'
                )
            keep = np.nonzero(res['scores'] >= self.score_threshold)[0]
            keep = keep[np.argsort(-res['scores'][keep], kind='stable')][:self.max_boxes_per_sample]
            per_sample[token] = predictions_to_results(
                token, res['bboxes'][keep], res['scores'][keep], res['labels'][keep], classes,
                lidar2global[token])
        if unknown:
            print_log(f'NuScenesDetMetric: dropped predictions of {unknown} samples that are not '
                      f'in {split_name}', logger='current')

        out_dir, tmp = self._output_dir()
        try:
            result_path = osp.join(out_dir, 'results_nusc.json')
            with open(result_path, 'w') as f:
                json.dump(dict(meta=self.modality, results=per_sample), f)
            if self.jsonfile_prefix is not None:
                self.result_path = result_path
                print_log(f'NuScenesDetMetric: results written to {result_path}', logger='current')
            if self.format_only:
                return {}
            return self._evaluate(nusc, result_path, out_dir)
        finally:
            if tmp is not None:
                tmp.cleanup()

    def _evaluate(self, nusc, result_path: str, out_dir: str) -> dict[str, float]:
        from nuscenes.eval.common.config import config_factory
        from nuscenes.eval.detection.evaluate import DetectionEval
        with _allow_empty_boxes():
            evaluator = DetectionEval(nusc, config=config_factory(self.eval_config),
                                      result_path=result_path, eval_set=self.eval_set,
                                      output_dir=out_dir, verbose=False)
        metrics, _ = evaluator.evaluate()
        summary = metrics.serialize()
        with open(osp.join(out_dir, 'metrics_summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        flat = {'mAP': summary['mean_ap'], 'NDS': summary['nd_score']}
        for err, value in summary['tp_errors'].items():
            flat[_TP_NAMES[err]] = value
        for name, ap in summary['mean_dist_aps'].items():
            flat[f'{name}_AP'] = ap
            for dist, dist_ap in summary['label_aps'][name].items():
                flat[f'{name}_AP_dist_{float(dist)}'] = dist_ap
            for err, value in summary['label_tp_errors'][name].items():
                flat[f'{name}_{_TP_NAMES[err][1:]}'] = value
        flat = {key: float(value) for key, value in flat.items()}
        print_log(_summary_table(summary), logger='current')
        return flat

    # ------------------------------------------------------------------ helpers
    def _ann_path(self) -> str:
        if osp.isabs(self.ann_file):
            return self.ann_file
        under_root = osp.join(self.data_root, self.ann_file)
        return under_root if osp.exists(under_root) or not osp.exists(self.ann_file) \
            else self.ann_file

    def _load_infos(self) -> dict:
        path = self._ann_path()
        if not osp.exists(path):
            raise FileNotFoundError(f'info file {path} not found; build it with '
                                    f'`python tools/create_data.py {self.data_root} --version '
                                    f'{self.version}`')
        infos = mmengine.load(path)
        if not isinstance(infos, dict) or 'data_list' not in infos:
            raise ValueError(f'{path} is not an info file (expected a dict with data_list, '
                             'see docs/data_format.md)')
        return infos

    def _classes(self, metainfo: dict) -> list[str]:
        classes = self.classes or (self.dataset_meta or {}).get('classes') or \
            classes_from_metainfo(metainfo) or list(NUSCENES_DETECTION_CLASSES)
        from nuscenes.eval.detection.constants import DETECTION_NAMES
        unknown = [name for name in classes if name not in DETECTION_NAMES]
        if unknown:
            raise ValueError(
                f'classes {unknown} are not nuScenes detection names {DETECTION_NAMES}'
            )
        return list(classes)

    def _load_nusc(self):
        if self._nusc is None:
            from nuscenes.nuscenes import NuScenes
            if not osp.isdir(osp.join(self.data_root, self.version)):
                raise FileNotFoundError(
                    f'no nuScenes tables at {osp.join(self.data_root, self.version)}'
                    '; check data_root and version'
                )
            self._nusc = NuScenes(version=self.version, dataroot=self.data_root, verbose=False)
        return self._nusc

    def _split_tokens(self, nusc) -> list[str]:
        """Sample tokens of the evaluated split present in this root (as the devkit selects)."""
        from nuscenes.utils.splits import create_splits_scenes, is_predefined_split
        if not is_predefined_split(self.eval_set):  # <root>/<version>/splits.json
            from nuscenes.eval.common.loaders import get_samples_of_custom_split
            return list(get_samples_of_custom_split(self.eval_set, nusc))
        scenes = set(create_splits_scenes()[self.eval_set])
        return [s['token'] for s in nusc.sample
                if nusc.get('scene', s['scene_token'])['name'] in scenes]

    def _output_dir(self):
        if self.jsonfile_prefix is not None:
            os.makedirs(self.jsonfile_prefix, exist_ok=True)
            return self.jsonfile_prefix, None
        tmp = tempfile.TemporaryDirectory(prefix='nusc_eval_')
        return tmp.name, tmp


@contextlib.contextmanager
def _allow_empty_boxes():
    """Let DetectionEval load a results file without a single box (all samples empty).

    The devkit's ``filter_eval_boxes`` looks up the class field of the first box and fails
    on an empty set; an empty set needs no filtering, so pass it through. Everything else
    (AP 0, TP errors 1 for classes without true positives) is the devkit's own logic.
    """
    from nuscenes.eval.detection import evaluate as devkit_evaluate
    original = devkit_evaluate.filter_eval_boxes

    def filter_eval_boxes(nusc, eval_boxes, *args, **kwargs):
        if not any(len(boxes) for boxes in eval_boxes.boxes.values()):
            return eval_boxes
        return original(nusc, eval_boxes, *args, **kwargs)

    devkit_evaluate.filter_eval_boxes = filter_eval_boxes
    try:
        yield
    finally:
        devkit_evaluate.filter_eval_boxes = original


def _numpy(value, dtype) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _summary_table(summary: dict) -> str:
    lines = [f"mAP: {summary['mean_ap']:.4f}  NDS: {summary['nd_score']:.4f}",
             '  '.join(f'{_TP_NAMES[k]}: {v:.4f}' for k, v in summary['tp_errors'].items()),
             f"{'class':<22}{'AP':>8}{'ATE':>8}{'ASE':>8}{'AOE':>8}{'AVE':>8}{'AAE':>8}"]
    for name, ap in summary['mean_dist_aps'].items():
        errs = summary['label_tp_errors'][name]
        lines.append(
            f'{name:<22}{ap:>8.3f}'
            + ''.join(
                f'{errs[k]:>8.3f}'
                for k in ('trans_err', 'scale_err', 'orient_err', 'vel_err', 'attr_err')
            )
        )
    return '\n'.join(lines)
