"""perception_kd: 3D perception distillation on driving data.

``import perception_kd`` is cheap: the sub-packages (``datasets``, ``models``, ``ocf``, ...)
load on first access (:mod:`perception_kd.lazy`), so numpy tools such as
``tools/make_ocf.py`` never import torch or spconv. Tools that build from configs call
:func:`register_all_modules` first: it imports every module that registers a dataset,
transform, model, hook or metric in the ``perception_kd`` registries (see
:mod:`perception_kd.registry`) and makes ``torch.load`` read mmengine checkpoints. A
registry lookup also imports its own modules on first use (mmengine's ``locations``).
"""
import warnings

from .lazy import lazy_exports

# spconv 2.3 decorates its autograd functions with torch.cuda.amp.custom_fwd/bwd, which
# torch >= 2.4 deprecates: 16 FutureWarnings at every start of every tool. Only those,
# only from spconv's own modules.
warnings.filterwarnings('ignore', message=r'`torch\.cuda\.amp\.custom_(fwd|bwd)',
                        category=FutureWarning, module=r'spconv(\.|$)')

__version__ = '0.1.0'

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, {'registry': ('register_all_modules',)},
    submodules=('constants', 'datasets', 'engine', 'evaluation', 'models', 'ocf', 'ops',
                'structures', 'utils', 'visualization'))
