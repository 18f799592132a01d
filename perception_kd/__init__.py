"""perception_kd: 3D perception distillation on driving data.

``import perception_kd`` registers every dataset, transform, model and metric of the
package in the ``perception_kd`` registries (see :mod:`perception_kd.registry`).
"""
from . import utils  # noqa: F401  (torch.load compatibility for mmengine checkpoints)
from . import datasets, evaluation, models, ops, structures  # noqa: F401
from . import engine  # noqa: F401  (hooks, optimizer wrappers, launcher and tool helpers)

__version__ = '0.1.0'
