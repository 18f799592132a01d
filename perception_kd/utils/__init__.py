"""Small utilities shared by the package.

Light on import: submodules load on first use (``perception_kd.utils.cli`` is used by the
numpy tools, which must not import torch). Importing
:mod:`perception_kd.utils.checkpoint_compat` allowlists the globals that mmengine checkpoints
need under torch's ``weights_only`` loading; ``perception_kd.register_all_modules()`` and
every module that loads checkpoints through ``perception_kd.utils.checkpoint`` import it.
"""
from ..lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    'checkpoint_compat': ['history_buffer_getattr', 'mmengine_safe_globals',
                          'register_mmengine_safe_globals'],
})
