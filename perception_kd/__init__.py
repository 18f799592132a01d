"""perception_kd: 3D perception distillation on driving data.

``import perception_kd`` registers every dataset, transform, model and metric of the
package in the ``perception_kd`` registries (see :mod:`perception_kd.registry`).
"""
import warnings

# spconv 2.3 decorates its autograd functions with torch.cuda.amp.custom_fwd/bwd, which
# torch >= 2.4 deprecates: 16 FutureWarnings at every start of every tool. Only those,
# only from spconv's own modules.
warnings.filterwarnings('ignore', message=r'`torch\.cuda\.amp\.custom_(fwd|bwd)',
                        category=FutureWarning, module=r'spconv(\.|$)')

# utils first: it makes torch.load read mmengine checkpoints before anything loads one
# isort: off
from . import utils  # noqa: E402,F401  (torch.load compatibility for mmengine checkpoints)
from . import datasets, evaluation, models, ops, structures  # noqa: E402,F401
from . import engine  # noqa: E402,F401  (hooks, optimizer wrappers, launcher and tool helpers)
# isort: on

__version__ = '0.1.0'
