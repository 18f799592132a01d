"""``MMDet3DDetector``: an mmdet3d detector as a project detector (teacher or student).

The optional mmdet3d stack (``make mmdet3d``; :mod:`perception_kd.utils.mmdet3d_compat`)
is imported when the bridge is built, never at import time of this module.

The bridge wraps any mmdet3d model of the ``MVXTwoStageDetector`` family that detects from
points with a ``CenterHead`` (mmdet3d's CenterPoint, voxel or pillar; a config dict or an
mmdet3d config file whose ``model`` is taken) and gives it the interface that
:class:`~perception_kd.models.distill.Distiller` and the project's runners use:

- ``data_preprocessor``: the project's batch (``inputs['points']`` list of (N, 5) clouds,
  project ``Det3DDataSample``) -> mmdet3d's: boxes (N, 9) centre-based -> mmdet3d
  ``LiDARInstance3DBoxes`` (bottom centre), dataset labels -> the head's flattened task
  labels, then mmdet3d's own ``Det3DDataPreprocessor`` (voxelization by mmcv);
- ``extract_feats`` -> :class:`~perception_kd.models.detectors.BEVFeatures`: ``bev_low`` and
  ``bev_high`` are the outputs of the modules named in ``levels`` (default the middle
  encoder, i.e. the sparse encoder's BEV map, and the neck), captured by forward hooks
  that the bridge registers on those module instances (no class is patched);
  ``responses`` are the CenterHead's task dicts (``heatmap`` logits, ``reg``, ``height``,
  ``dim`` (log), ``rot`` (sin, cos), ``vel``): the project's CenterHead layout, so the
  UniDistill losses read them unchanged when both heads have the same task groups;
- ``detection_loss`` -> mmdet3d's ``CenterHead.loss_by_feat`` on the ground truth;
- ``predict`` -> mmdet3d's ``predict_by_feat``, boxes back to the project's (M, 9)
  centre-based layout and dataset labels, un-augmented by ``bda_mat`` like the project's
  head, so ``NuScenesDetMetric`` evaluates them;
- spconv layers pick their algorithm by device (``Native`` on CPU) before each forward of
  the middle encoder (:func:`perception_kd.ops.spconv_utils.register_spconv_algo_hook`).

Checkpoints: the bridge's weights are the mmdet3d model's under ``detector.``; a
checkpoint saved by mmdet3d's own tools (keys without the prefix) loads as well
(:meth:`MMDet3DDetector.adapt_state_dict`, used by the Distiller for teachers).
"""
from __future__ import annotations

import copy
import os.path as osp
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData
from torch import Tensor

from ..constants import CLASSES
from ..ops.spconv_utils import register_spconv_algo_hook
from ..registry import MODELS
from ..structures import BEVGrid
from .detectors import BEVFeatures
from .heads.center_decode import undo_bda

__all__ = ['MMDet3DDetector', 'PREFIX']

PREFIX = 'detector.'
DEFAULT_LEVELS = {'bev_low': 'pts_middle_encoder', 'bev_high': 'pts_neck'}


def _mmdet3d():
    """Import the mmdet3d stack (registering its modules) or raise a one-line fix."""
    from ..utils.mmdet3d_compat import mmdet3d_missing
    problem = mmdet3d_missing()
    if problem:
        raise ImportError(f'MMDet3DDetector needs mmdet3d: {problem}')
    import mmdet3d.structures
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MMDET3D_MODELS, mmdet3d.structures


def _detector_cfg(spec) -> dict:
    if isinstance(spec, str):
        if not osp.isfile(spec):
            raise FileNotFoundError(f'mmdet3d config {spec} not found')
        cfg = Config.fromfile(spec)
        if 'model' not in cfg:
            raise KeyError(f'mmdet3d config {spec} has no `model`')
        spec = cfg.model
    if not isinstance(spec, Mapping) or 'type' not in spec:
        raise TypeError('MMDet3DDetector.detector must be an mmdet3d model config dict (with a '
                        f'type) or the path of an mmdet3d config; got {type(spec).__name__}')
    return spec.to_dict() if isinstance(spec, ConfigDict) else copy.deepcopy(dict(spec))


class MMDet3DInputs(BaseDataPreprocessor):
    """The project's batch -> mmdet3d's, then mmdet3d's own data preprocessor.

    Holds the bridge's label map; the mmdet3d preprocessor is read from the bridge at call
    time (it stays a submodule of the wrapped detector only).
    """

    def __init__(self, bridge: MMDet3DDetector):
        super().__init__()
        self._bridge = [bridge]   # a list: not a submodule (no cycle in modules())

    def forward(self, data: dict, training: bool = False) -> dict:
        bridge = self._bridge[0]
        data = self.cast_data(data)
        inputs = data['inputs']
        if 'points' not in inputs:
            raise KeyError(f'MMDet3DDetector reads inputs["points"]; the batch has '
                           f'{sorted(inputs)} (add points to Pack3DDetInputs\' keys)')
        theirs = dict(inputs=dict(points=list(inputs['points'])),
                      data_samples=bridge.to_mmdet3d_samples(data.get('data_samples') or []))
        return bridge.detector.data_preprocessor(theirs, training)


@MODELS.register_module()
class MMDet3DDetector(BaseModel):
    """An mmdet3d CenterPoint-style detector behind the project's detector interface.

    Args:
        detector: the mmdet3d model config (dict or the path of an mmdet3d config file),
            including its ``data_preprocessor``, ``train_cfg`` and ``test_cfg``.
        levels: feature level -> name of the wrapped model's submodule whose output it is
            (``bev_low``: a (B, C, H, W) map; ``bev_high``: a map or a one-map list).
        class_names: the dataset's classes in label order (default: the project's
            ``CLASSES``); the head's task classes are looked up in it by name.
        fix_head_init: mmdet3d 1.4's CenterHead keeps its task heads in a plain
            ``nn.ModuleList``, so ``init_weights`` never reaches them (open upstream:
            open-mmlab/mmdetection3d#1554): no Kaiming init, and the heatmap bias stays
            at PyTorch's default instead of ``init_bias`` (-2.19), which starts the focal
            loss ~100x higher. True (default): :meth:`init_weights` also initialises
            each task head as mmdet3d intends; False: mmdet3d's behaviour as it is.
    """

    def __init__(self, detector: dict | str, levels: dict | None = None,
                 class_names: Sequence[str] = CLASSES, fix_head_init: bool = True,
                 init_cfg: dict | None = None):
        registry, self._structures = _mmdet3d()
        super().__init__(init_cfg=init_cfg)
        with DefaultScope.overwrite_default_scope('mmdet3d'):   # its registries, not ours
            # ConfigDict: mmdet3d reads its configs by attribute (train_cfg.pts)
            self.detector = registry.build(ConfigDict(_detector_cfg(detector)))
        head = getattr(self.detector, 'pts_bbox_head', None)
        if not (hasattr(self.detector, 'extract_pts_feat') and head is not None
                and hasattr(head, 'task_heads')):
            raise TypeError(f'MMDet3DDetector wraps point-cloud detectors of mmdet3d\'s '
                            f'MVXTwoStageDetector family with a CenterHead (e.g. CenterPoint); got '
                            f'{type(self.detector).__name__} with head {type(head).__name__}')
        self.data_preprocessor = MMDet3DInputs(self)
        self._label_maps(head, class_names)
        self._levels: dict[str, Tensor] = {}
        self._level_modules = dict(DEFAULT_LEVELS if levels is None else levels)
        if set(self._level_modules) != {'bev_low', 'bev_high'}:
            raise KeyError('levels must name bev_low and bev_high, got '
                           f'{sorted(self._level_modules)}')
        modules = dict(self.detector.named_modules())
        for level, name in self._level_modules.items():
            if name not in modules:
                top = sorted(n for n in modules if n and '.' not in n)
                raise KeyError(f'levels.{level}: the mmdet3d model has no submodule {name!r} '
                               f'(top-level ones: {top})')
            modules[name].register_forward_hook(self._capture(level))
        register_spconv_algo_hook(self.detector.pts_middle_encoder)
        self.fix_head_init = bool(fix_head_init)

    def init_weights(self) -> None:
        """mmengine's initialisation of the wrapped model, plus its CenterHead's task heads
        when ``fix_head_init`` (class doc)."""
        super().init_weights()
        if self.fix_head_init:
            for task_head in self.detector.pts_bbox_head.task_heads:
                if not getattr(task_head, 'is_init', False):
                    task_head.init_weights()

    # ------------------------------------------------------------ conversion
    def _label_maps(self, head, class_names: Sequence[str]) -> None:
        flat = [name for names in head.class_names for name in names]
        unknown = [name for name in flat if name not in class_names]
        if unknown:
            raise KeyError(f'the mmdet3d head\'s tasks name classes {unknown} that are not in the '
                           f'dataset classes {list(class_names)}')
        self.class_names = tuple(class_names)
        # dataset label -> head label (-1: a class the head does not detect), and back
        to_head = torch.full((len(class_names),), -1, dtype=torch.long)
        for head_label, name in enumerate(flat):
            to_head[self.class_names.index(name)] = head_label
        self.register_buffer('_to_head', to_head, persistent=False)
        self.register_buffer('_to_dataset', torch.tensor(
            [self.class_names.index(name) for name in flat], dtype=torch.long), persistent=False)
        self.task_labels = [[self.class_names.index(name) for name in names]
                            for names in head.class_names]

    @property
    def grid(self) -> BEVGrid:
        """The BEV grid of the head's maps (from the head's train_cfg)."""
        cfg = self.detector.pts_bbox_head.train_cfg
        if cfg is None:
            raise ValueError('the mmdet3d model has no train_cfg.pts: its BEV grid is unknown')
        pcr = self.detector.data_preprocessor.voxel_layer.point_cloud_range
        return BEVGrid.from_range(pcr, float(cfg['voxel_size'][0]) * cfg['out_size_factor'])

    def to_mmdet3d_samples(self, samples: Sequence) -> list:
        """Project samples -> mmdet3d ``Det3DDataSample`` (metainfo kept, boxes converted)."""
        structures = self._structures
        out = []
        for sample in samples:
            theirs = structures.Det3DDataSample(
                metainfo=dict(sample.metainfo, box_type_3d=structures.LiDARInstance3DBoxes))
            if 'gt_instances_3d' in sample:
                gt = sample.gt_instances_3d
                labels = self._to_head.to(gt.labels_3d.device)[gt.labels_3d.long()]
                keep = labels >= 0
                boxes = gt.bboxes_3d[keep].float()
                theirs.gt_instances_3d = InstanceData(
                    bboxes_3d=structures.LiDARInstance3DBoxes(
                        boxes, box_dim=boxes.shape[1], origin=(0.5, 0.5, 0.5)),
                    labels_3d=labels[keep])
            out.append(theirs)
        return out

    def adapt_state_dict(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """A state dict of this bridge, or of the bare mmdet3d model (mmdet3d's own
        checkpoints): the keys as this module names them."""
        if any(key.startswith(PREFIX) for key in state):
            return state
        out = OrderedDict((PREFIX + key, value) for key, value in state.items())
        meta = getattr(state, '_metadata', None)
        if meta is not None:   # module versions (mmdet3d converts old spconv layouts by them)
            out._metadata = OrderedDict(
                (PREFIX + name if name else PREFIX[:-1], value) for name, value in meta.items())
        return out

    # ------------------------------------------------------------ forward
    def _capture(self, level: str):
        def hook(module, args, output):
            if isinstance(output, (list, tuple)):
                if len(output) != 1:
                    raise ValueError(f'{level}: {self._level_modules[level]} returned '
                                     f'{len(output)} maps; name a module with one output')
                output = output[0]
            self._levels[level] = output
        return hook

    def extract_feats(self, inputs: dict, data_samples: Sequence) -> BEVFeatures:
        """Voxel encoder -> middle encoder (``bev_low``) -> backbone -> neck (``bev_high``)
        -> CenterHead (``responses``); ``inputs``/``data_samples`` as the bridge's data
        preprocessor returns them."""
        metas = [sample.metainfo for sample in data_samples]
        self._levels.clear()
        _, pts_feats = self.detector.extract_feat(inputs, metas)
        outs = self.detector.pts_bbox_head(pts_feats)   # per task: [dict] (one level)
        responses = [task[0] for task in outs]
        missing = [level for level in DEFAULT_LEVELS if level not in self._levels]
        if missing:
            raise RuntimeError(f'levels {missing} were not produced by this forward (modules '
                               f'{[self._level_modules[m] for m in missing]} did not run)')
        levels, self._levels = self._levels, {}
        return BEVFeatures(levels['bev_low'], levels['bev_high'], responses)

    def detection_loss(self, feats: BEVFeatures, data_samples: Sequence) -> dict[str, Tensor]:
        """mmdet3d's CenterHead losses (``task<k>.loss_heatmap`` / ``loss_bbox``)."""
        head = self.detector.pts_bbox_head
        gts = [sample.gt_instances_3d for sample in data_samples]
        outs = tuple([dict(task)] for task in feats.responses)   # loss_by_feat edits dicts
        return head.loss_by_feat(outs, gts)

    def auxiliary_loss(self, feats, inputs, data_samples) -> dict:
        return {}

    def loss(self, inputs: dict, data_samples: Sequence,
             feats: BEVFeatures | None = None) -> dict[str, Tensor]:
        feats = self.extract_feats(inputs, data_samples) if feats is None else feats
        return self.detection_loss(feats, data_samples)

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Sequence,
                feats: BEVFeatures | None = None) -> list:
        """The project's samples (metainfo of ``data_samples``) with ``pred_instances_3d``:
        boxes (M, 9) centre-based in the un-augmented LiDAR frame, dataset labels."""
        feats = self.extract_feats(inputs, data_samples) if feats is None else feats
        head = self.detector.pts_bbox_head
        metas = [sample.metainfo for sample in data_samples]
        outs = tuple([dict(task)] for task in feats.responses)
        results = []
        for sample, pred in zip(self._project_samples(data_samples),
                                head.predict_by_feat(outs, metas)):
            boxes = pred.bboxes_3d
            boxes = torch.cat([boxes.gravity_center, boxes.tensor[:, 3:]], 1).float()
            boxes = undo_bda(boxes, sample.metainfo)
            labels = self._to_dataset.to(boxes.device)[pred.labels_3d.long()]
            sample.pred_instances_3d = InstanceData(bboxes_3d=boxes, scores_3d=pred.scores_3d,
                                                    labels_3d=labels)
            results.append(sample)
        return results

    def forward(self, inputs: dict, data_samples: list | None = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feats(inputs, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    @staticmethod
    def _project_samples(samples: Sequence) -> list:
        """mmdet3d samples -> the project's (metainfo only), for the evaluator."""
        from ..structures import Det3DDataSample
        return [Det3DDataSample(metainfo={k: v for k, v in s.metainfo.items()
                                          if k != 'box_type_3d'}) for s in samples]
