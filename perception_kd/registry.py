"""Registries of perception_kd: children of mmengine's root registries.

Modules of the package register their classes into these under the scope
``perception_kd``. Importing the package does not import them (sub-packages load lazily,
see :mod:`perception_kd.lazy`); two things do:

- each registry's ``locations``: mmengine imports them at the registry's first lookup
  (``build``/``get``, also through mmengine's root registries with
  ``default_scope='perception_kd'``), so a config can name any type;
- :func:`register_all_modules`, which tools call before building from a config: every
  registering module at once, and the ``torch.load`` allowlist of mmengine checkpoints.

A new module that registers something belongs in :data:`LOCATIONS` (a test checks that
every registered class is found from its registry's locations).
"""
import importlib

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

SCOPE = 'perception_kd'

_ENGINE = ('engine',)     # eager package: imports all its modules
_MODELS = ('models', 'ops.voxelize')    # models: eager package
_TRANSFORMS = tuple(f'datasets.transforms.{name}' for name in (
    'augmentation', 'filters', 'formatting', 'lidarseg', 'loading', 'pairing'))
_METRICS = ('evaluation.lidarseg_metric', 'evaluation.nuscenes_metric',
            'evaluation.pixel_seg_metric')
_VISUALIZATION = ('visualization.hooks',)

#: registry name -> the modules (relative to the package) that register into it. A name
#: that is a package stands for its submodules; only eager packages (whose ``__init__``
#: imports them all) may be named so.
LOCATIONS: dict[str, tuple[str, ...]] = {
    'runner': _ENGINE,
    'loop': _ENGINE,
    'hook': _ENGINE + _VISUALIZATION,
    'log processor': _ENGINE,
    'dataset': ('datasets.nuscenes',),
    'data sampler': ('datasets.samplers',),
    'transform': _TRANSFORMS,
    'model': _MODELS,
    'model_wrapper': _MODELS,
    'optimizer': _ENGINE,
    'optim_wrapper': _ENGINE,
    'optimizer wrapper constructor': _ENGINE,
    'parameter scheduler': _ENGINE,
    'metric': _METRICS,
    'evaluator': _METRICS,
    'task util': _MODELS,
    'visualizer': _VISUALIZATION,
    'vis_backend': _VISUALIZATION,
}


def _child(name: str, parent: Registry) -> Registry:
    return Registry(
        name, parent=parent, scope=SCOPE, locations=[f'{SCOPE}.{loc}' for loc in LOCATIONS[name]]
    )


RUNNERS = _child('runner', MMENGINE_RUNNERS)
LOOPS = _child('loop', MMENGINE_LOOPS)
HOOKS = _child('hook', MMENGINE_HOOKS)
LOG_PROCESSORS = _child('log processor', MMENGINE_LOG_PROCESSORS)
DATASETS = _child('dataset', MMENGINE_DATASETS)
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS)
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS)
MODELS = _child('model', MMENGINE_MODELS)
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS)
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
)
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS)
METRICS = _child('metric', MMENGINE_METRICS)
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR)
TASK_UTILS = _child('task util', MMENGINE_TASK_UTILS)
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS)
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS)


def register_all_modules() -> None:
    """Import every module that registers into the ``perception_kd`` registries, and
    allowlist the globals of mmengine checkpoints for ``torch.load``
    (``perception_kd.utils.checkpoint_compat``).

    What ``import perception_kd`` did before the package became lazy. Idempotent and cheap
    after the first call (imports are cached); call it before building from a config or
    loading a checkpoint. Imports torch, spconv and mmengine.
    """
    importlib.import_module(f'{SCOPE}.utils.checkpoint_compat')  # torch.load allowlist first
    for locations in LOCATIONS.values():
        for location in locations:
            importlib.import_module(f'{SCOPE}.{location}')
