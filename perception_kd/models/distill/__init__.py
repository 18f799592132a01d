"""BEV distillation: the :class:`Distiller`, UniDistill's key points, losses and adapters."""
from .adapters import ConvAdapter
from .distiller import (
    Distiller,
    TeacherCheckpointError,
    model_cfg_from,
    resolve_teacher_checkpoint,
    student_state_from_checkpoint,
)
from .keypoints import KeypointSampler, box_keypoints
from .losses import (
    DistillTargets,
    FeatureDistillLoss,
    RelationDistillLoss,
    ResponseDistillLoss,
    relation_matrix,
    response_mask,
)

__all__ = ['ConvAdapter', 'Distiller', 'DistillTargets', 'FeatureDistillLoss', 'KeypointSampler',
           'RelationDistillLoss', 'ResponseDistillLoss', 'TeacherCheckpointError', 'box_keypoints',
           'model_cfg_from', 'relation_matrix', 'resolve_teacher_checkpoint', 'response_mask',
           'student_state_from_checkpoint']
