"""``Distiller``: a frozen teacher detector teaches a student detector in BEV.

Student and teacher are :class:`~perception_kd.models.detectors.BEVDetector` configs, or of any
model with its interface (:class:`~perception_kd.models.mmdet3d_bridge.MMDet3DDetector`: an
mmdet3d CenterPoint): a dict, or the path of an experiment config whose ``model`` is taken.
The teacher is built, its checkpoint loaded and verified once at construction, and it
stays in eval mode under ``no_grad``. Each step:

1. the batch goes through the student's data preprocessor (e.g. images only) and, with
   the inputs named by ``teacher_input``, through the teacher's (e.g. voxelization);
2. the teacher's feature levels (``bev_low``, ``bev_high``, ``responses``) are computed
   without gradients, the student's with;
3. loss = the student's own detection losses + ``weight * loss(adapter(student level),
   teacher level, targets)`` for every named distillation loss, where the targets (valid
   boxes, key points, response mask) come from the batch's ground truth in the
   augmented frame both models saw.

Semi-supervised (``semi_supervised=True``, X-Ray's semi-supervised mode): batches mix
labelled samples and unlabelled ones (metainfo ``labelled`` False, see ``NuScenesDataset``)
whose boxes are a detector's pseudo labels. The student's detection loss is computed on
the labelled samples only (a batch without one gives zero detection losses that stay in
the graph); its box-free losses (camera depth) and the distillation losses use every
sample, the latter's key points and response masks on the ground truth of labelled
samples and the pseudo boxes of unlabelled ones.

``predict`` runs the student only; ``tools/export_student.py`` writes the student's
weights (no teacher, no adapters) as a plain detector checkpoint.

Config example (LiDAR -> camera)::

    model = dict(
        type='Distiller',
        student=dict(type='BEVDetector', camera_encoder=..., ...),
        teacher='configs/centerpoint_lidar_cpu.py',
        teacher_ckpt='work_dirs/centerpoint_lidar_cpu',          # a file, or a work dir
        distill_losses=dict(
            loss_fea=dict(type='FeatureDistillLoss', level='bev_low', weight=100.0),
            loss_rel=dict(type='RelationDistillLoss', level='bev_high', weight=40.0),
            loss_resp=dict(type='ResponseDistillLoss', level='responses', weight=10.0)))
"""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...registry import MODELS
from ...structures import BEVGrid, Det3DDataSample
from ...utils.checkpoint import (
    checkpoint_problem,
    checkpoint_state_dict,
    compare_state_dicts,
    latest_checkpoint,
    load_checkpoint_file,
)
from ..detectors import BEVDetector, BEVFeatures
from ..losses import zero_loss_like
from .keypoints import KeypointSampler
from .losses import DistillTargets

LEVELS = ('bev_low', 'bev_high', 'responses')
#: what the Distiller calls on its detectors: BEVDetector's methods (MMDet3DDetector has them)
DETECTOR_API = ('data_preprocessor', 'extract_feats', 'detection_loss', 'auxiliary_loss', 'loss',
                'predict')
STUDENT_PREFIX = 'student.'


class TeacherCheckpointError(RuntimeError):
    """The teacher checkpoint is missing or does not fit the teacher model."""


def model_cfg_from(spec: str | Mapping, role: str) -> dict:
    """A detector config dict from a dict or from an experiment config file's ``model``."""
    if isinstance(spec, str):
        if not osp.isfile(spec):
            raise FileNotFoundError(f'{role} config file {spec} not found (give a detector config '
                                    'dict or the path of an experiment config)')
        cfg = Config.fromfile(spec)
        if 'model' not in cfg:
            raise KeyError(f'{role} config {spec} has no `model`')
        spec = cfg.model
    if not isinstance(spec, Mapping) or 'type' not in spec:
        raise TypeError(f'{role} must be a model config dict with a type, or a config path; got '
                        f'{type(spec).__name__}')
    spec = spec.to_dict() if isinstance(spec, ConfigDict) else copy.deepcopy(dict(spec))
    return spec


def without_pretrained(cfg):
    """A copy of a model config with every ``pretrained`` value set to None."""
    if isinstance(cfg, Mapping):
        return {k: (None if k == 'pretrained' else without_pretrained(v)) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_pretrained(v) for v in cfg)
    return cfg


def resolve_teacher_checkpoint(path: str, teacher_config: str | None) -> str:
    """A checkpoint file from a file or a work dir (its latest checkpoint); a clear error
    naming the command that trains the teacher otherwise."""
    if path is None:
        raise TeacherCheckpointError('teacher_ckpt is not set; give the teacher\'s checkpoint '
                                     '(or its work dir) in the config or with --cfg-options '
                                     'model.teacher_ckpt=PATH')
    if osp.isdir(path):
        found = latest_checkpoint(path)
        if found is not None:
            return found
    elif osp.isfile(path):
        return path
    cmd = (f'python tools/train.py {teacher_config}' if teacher_config else
           'python tools/train.py <the teacher\'s config>')
    work_dir = path if not path.endswith('.pth') else osp.dirname(path)
    raise TeacherCheckpointError(
        f'teacher checkpoint {path} not found. Train the teacher first:\n  {cmd} --work-dir '
        f'{work_dir or "work_dirs/<teacher>"}\nor point the distiller to an existing checkpoint '
        'with --cfg-options model.teacher_ckpt=PATH (a .pth file or a work dir)')


@MODELS.register_module()
class Distiller(BaseModel):
    """Teacher -> student BEV distillation (UniDistill; also X-Ray with another teacher input).

    Args:
        student: the student detector (config dict or experiment config path).
        teacher: the teacher detector (config dict or experiment config path).
        teacher_ckpt: the teacher's checkpoint file, or a work dir (its latest checkpoint).
            Loaded once here; a plain detector checkpoint, or a distilled one (its
            ``student.`` weights are taken).
        distill_losses: ``{name: dict(type=..., level=..., weight=..., adapter=None,
            **loss_kwargs)}``; ``level`` one of ``bev_low``, ``bev_high``, ``responses``;
            ``adapter`` names an entry of ``adapters`` applied to the student's level.
            The name is the logged loss key (start it with ``loss``).
        adapters: ``{name: dict(type='ConvAdapter', in_channels=..., out_channels=...)}``.
        teacher_input: which batch inputs the teacher reads, ``{teacher key: batch key}``
            (e.g. ``dict(points='ocf_points')`` for an OCF teacher); None: the same inputs
            as the student. Keys of the batch not named are passed unchanged.
        point_cloud_range, bev_cell: the BEV grid the distilled levels share; default: the
            student head's grid.
        response_mask: ``dict(min_overlap=0.7, min_radius=0)`` of the response mask.
        semi_supervised: the detection loss on the samples whose metainfo says
            ``labelled`` only (module doc); every sample must carry the key. False: all
            samples supervise the student, and an unlabelled sample is an error.
        data_preprocessor: the distiller's own (only moves the batch to the device; each
            model's preprocessor then prepares its inputs). Default: mmengine's.
    """

    def __init__(self,
                 student: str | dict,
                 teacher: str | dict,
                 teacher_ckpt: str | None,
                 distill_losses: dict[str, dict],
                 adapters: dict[str, dict] | None = None,
                 teacher_input: dict[str, str] | None = None,
                 point_cloud_range: Sequence[float] | None = None,
                 bev_cell: float | None = None,
                 response_mask: dict | None = None,
                 semi_supervised: bool = False,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._build_models(student, teacher, teacher_ckpt)
        self.adapters = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in (adapters or {}).items()}
        )
        self._build_losses(distill_losses)
        self.teacher_input = dict(teacher_input) if teacher_input else None
        self.sampler = KeypointSampler(self._grid(point_cloud_range, bev_cell))
        self.mask_cfg = self._mask_cfg(response_mask)
        self.semi_supervised = bool(semi_supervised)

    # --------------------------------------------------------------- teacher

    def _build_models(self, student: str | dict, teacher: str | dict,
                      teacher_ckpt: str | None) -> None:
        """Build both detectors; load the teacher from its checkpoint and freeze it."""
        self.student = MODELS.build(model_cfg_from(student, 'student'))
        # the teacher's weights all come from teacher_ckpt: its pretrained files are not read
        teacher_cfg = without_pretrained(model_cfg_from(teacher, 'teacher'))
        self.teacher = MODELS.build(teacher_cfg)
        for name, model in (('student', self.student), ('teacher', self.teacher)):
            missing = [attr for attr in DETECTOR_API if not hasattr(model, attr)]
            if missing:
                raise TypeError(f'the {name} must be a BEVDetector or follow its interface '
                                f'(e.g. MMDet3DDetector); {type(model).__name__} has no '
                                f'{missing}')
        self.teacher_config = teacher if isinstance(teacher, str) else None
        self.teacher_ckpt = resolve_teacher_checkpoint(teacher_ckpt, self.teacher_config)
        self._load_teacher(self.teacher_ckpt)
        self.teacher.eval()
        self.teacher.requires_grad_(False)

    def _build_losses(self, distill_losses: dict[str, dict]) -> None:
        """``distill_losses`` -> the loss modules and their (level, weight, adapter) specs,
        checked against :data:`LEVELS` and ``self.adapters``."""
        self.distill_losses = nn.ModuleDict()
        self.loss_specs: dict[str, dict] = {}
        if not distill_losses:
            raise ValueError('distill_losses is empty: name at least one distillation loss')
        for name, cfg in distill_losses.items():
            cfg = dict(cfg)
            level, weight, adapter = (
                cfg.pop('level', None),
                float(cfg.pop('weight', 1.0)),
                cfg.pop('adapter', None),
            )
            if level not in LEVELS:
                raise KeyError(
                    f'distill_losses.{name}.level must be one of {LEVELS}, got {level!r}'
                )
            if adapter is not None and adapter not in self.adapters:
                raise KeyError(f'distill_losses.{name}.adapter {adapter!r} is not in adapters '
                               f'{sorted(self.adapters)}')
            if adapter is not None and level == 'responses':
                raise ValueError(
                    f'distill_losses.{name}: adapters apply to BEV maps, not responses'
                )
            if not name.startswith('loss'):
                raise ValueError(f'distill loss name {name!r} must start with "loss" so mmengine '
                                 'adds it to the total loss')
            self.distill_losses[name] = MODELS.build(cfg)
            self.loss_specs[name] = dict(level=level, weight=weight, adapter=adapter)

    def _grid(self, point_cloud_range: Sequence[float] | None,
              bev_cell: float | None) -> BEVGrid:
        """The key points' BEV grid: from the range and cell, else the student head's."""
        if point_cloud_range is not None and bev_cell is not None:
            return BEVGrid.from_range(point_cloud_range, bev_cell)
        grid = getattr(self.student, 'grid', None)   # MMDet3DDetector: its head's grid
        if grid is None:
            grid = getattr(getattr(self.student, 'head', None), 'grid', None)
        if grid is None:
            raise ValueError('give point_cloud_range and bev_cell: the student head has no grid')
        return grid

    @staticmethod
    def _mask_cfg(response_mask: dict | None) -> dict:
        """``response_mask`` (min_overlap, min_radius) -> the DistillTargets mask keywords."""
        mask_cfg = dict(min_overlap=0.7, min_radius=0, **(response_mask or {}))
        out = dict(mask_min_overlap=float(mask_cfg.pop('min_overlap')),
                   mask_min_radius=int(mask_cfg.pop('min_radius')))
        if mask_cfg:
            raise KeyError(
                f'response_mask: unknown keys {sorted(mask_cfg)} (min_overlap, min_radius)'
            )
        return out

    def _load_teacher(self, path: str) -> None:
        try:
            checkpoint = load_checkpoint_file(path)
        except Exception as err:  # noqa: BLE001  (random bytes raise anything; name the file)
            problem = checkpoint_problem(path) if osp.isfile(path) else None
            raise TeacherCheckpointError(
                f'teacher checkpoint {path} cannot be loaded: '
                f'{problem or f"{type(err).__name__}: {err}"}; point model.teacher_ckpt to a '
                'complete checkpoint of the teacher') from err
        state = checkpoint_state_dict(checkpoint)
        if any(k.startswith(STUDENT_PREFIX) for k in state):  # a distilled checkpoint
            state = student_state_from_checkpoint(state)
        if hasattr(self.teacher, 'adapt_state_dict'):   # e.g. an mmdet3d model's own keys
            state = self.teacher.adapt_state_dict(state)
        mismatch = compare_state_dicts(self.teacher.state_dict(), state)
        if not mismatch.ok:
            raise TeacherCheckpointError(
                f'teacher checkpoint {path} does not match the teacher model '
                f'({self.teacher_config or "teacher config dict"}):\n{mismatch.format()}\n'
                'use the checkpoint trained with the teacher\'s config')
        self.teacher.load_state_dict(state, strict=True)

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        self.teacher.eval()  # always: BN statistics and dropout stay the teacher's
        return self

    def init_weights(self) -> None:
        """Initialise the student and adapters; the loaded teacher is left untouched."""
        self.student.init_weights()
        for adapter in self.adapters.values():
            if hasattr(adapter, 'init_weights'):
                adapter.init_weights()
        self._is_init = True

    # --------------------------------------------------------------- steps
    def _prepare(self, model: BEVDetector, inputs: dict, data_samples, training: bool) -> dict:
        return model.data_preprocessor(dict(inputs=inputs, data_samples=data_samples), training)

    def teacher_inputs(self, inputs: dict) -> dict:
        """The batch inputs as the teacher reads them (see ``teacher_input``): each mapped
        key takes its source's value; the source keys themselves are not passed on."""
        if self.teacher_input is None:
            return dict(inputs)
        for teacher_key, batch_key in self.teacher_input.items():
            if batch_key not in inputs:
                raise KeyError(
                    f'teacher_input maps {teacher_key!r} <- {batch_key!r}, but the batch '
                    f'has no {batch_key!r} (inputs: {sorted(inputs)}); add it to the '
                    "pipeline's Pack3DDetInputs keys"
                )
        out = {k: v for k, v in inputs.items() if k not in self._teacher_only_keys}
        out.update({t: inputs[b] for t, b in self.teacher_input.items()})
        return out

    @property
    def _teacher_only_keys(self) -> set:
        """Batch keys only the teacher reads (e.g. ``ocf_points``): kept from the student."""
        if not self.teacher_input:
            return set()
        return set(self.teacher_input.values()) - set(self.teacher_input)

    def student_inputs(self, inputs: dict) -> dict:
        return {k: v for k, v in inputs.items() if k not in self._teacher_only_keys}

    @torch.no_grad()
    def teacher_feats(self, inputs: dict, data_samples) -> BEVFeatures:
        batch = self._prepare(self.teacher, self.teacher_inputs(inputs), data_samples, False)
        return self.teacher.extract_feats(batch['inputs'], batch['data_samples'])

    def distill_loss(self, student: BEVFeatures, teacher: BEVFeatures,
                     data_samples: Sequence[Det3DDataSample]) -> dict[str, Tensor]:
        """The weighted distillation losses of one batch."""
        device = student.bev_low.device
        targets = DistillTargets.build(self.sampler, data_samples, device=device, **self.mask_cfg)
        losses = {}
        for name, loss_fn in self.distill_losses.items():
            spec = self.loss_specs[name]
            s_level, t_level = getattr(student, spec['level']), getattr(teacher, spec['level'])
            if spec['adapter'] is not None:
                s_level = self.adapters[spec['adapter']](s_level)
            losses[name] = spec['weight'] * loss_fn(s_level, t_level, targets)
        return losses

    def labelled(self, data_samples: Sequence[Det3DDataSample]) -> list[bool] | None:
        """Per sample whether its boxes are ground truth (semi-supervised mode); None when
        not semi-supervised (every sample is labelled)."""
        flags = [sample.metainfo.get('labelled') for sample in data_samples]
        if not self.semi_supervised:
            unlabelled = [i for i, flag in enumerate(flags) if flag is not None and not flag]
            if unlabelled:
                token = data_samples[unlabelled[0]].metainfo.get('token')
                raise ValueError(f'the batch holds unlabelled samples (e.g. {token!r}: labelled '
                                 'False, its boxes are pseudo labels) but the Distiller is not '
                                 'semi-supervised; set model.semi_supervised=True, or train on '
                                 'labelled info files only')
            return None
        missing = [i for i, flag in enumerate(flags) if flag is None]
        if missing:
            raise KeyError(
                f'semi_supervised: sample {data_samples[missing[0]].metainfo.get("token")!r} '
                "has no 'labelled' in its metainfo; use NuScenesDataset (it sets the key) "
                "and keep 'labelled' in Pack3DDetInputs' meta_keys"
            )
        return [bool(flag) for flag in flags]

    def student_loss(self, inputs: dict, data_samples: Sequence[Det3DDataSample],
                     feats: BEVFeatures) -> dict[str, Tensor]:
        """The student's own losses: all of them, or in semi-supervised mode the detection
        loss on the labelled samples and the box-free losses on all (module doc)."""
        labelled = self.labelled(data_samples)
        if labelled is None or all(labelled):
            return self.student.loss(inputs, data_samples, feats=feats)
        index = [i for i, flag in enumerate(labelled) if flag]
        if index:
            losses = self.student.detection_loss(feats.select(index),
                                                 [data_samples[i] for i in index])
        else:  # no ground truth: the usual keys, zero, still connected to the graph
            losses = {key: zero_loss_like(value) for key, value in
                      self.student.detection_loss(feats, data_samples).items()}
        losses.update(self.student.auxiliary_loss(feats, inputs, data_samples))
        return losses

    def loss(self, inputs: dict, data_samples: list[Det3DDataSample]) -> dict[str, Tensor]:
        t_feats = self.teacher_feats(inputs, data_samples)
        batch = self._prepare(self.student, self.student_inputs(inputs), data_samples, True)
        s_inputs, samples = batch['inputs'], batch['data_samples']
        s_feats = self.student.extract_feats(s_inputs, samples)
        losses = self.student_loss(s_inputs, samples, s_feats)
        # targets from the project's samples (a bridged student's are mmdet3d's; same boxes)
        losses.update(self.distill_loss(s_feats, t_feats, data_samples))
        return losses

    def predict(self, inputs: dict, data_samples: list[Det3DDataSample]) -> list[Det3DDataSample]:
        batch = self._prepare(self.student, self.student_inputs(inputs), data_samples, False)
        return self.student.predict(batch['inputs'], batch['data_samples'])

    def forward(self, inputs: dict, data_samples: list[Det3DDataSample] | None = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            batch = self._prepare(self.student, self.student_inputs(inputs), data_samples, False)
            return self.student.extract_feats(batch['inputs'], batch['data_samples'])
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")


def student_state_from_checkpoint(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A distilled checkpoint's state dict -> the student's (teacher and adapters dropped)."""
    student = {k[len(STUDENT_PREFIX):]: v for k, v in state.items() if k.startswith(STUDENT_PREFIX)}
    if not student:
        raise KeyError('the checkpoint has no student.* weights: it is not a Distiller checkpoint')
    return student
