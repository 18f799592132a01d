"""Small utilities shared by the package.

Importing this package allowlists the globals that mmengine checkpoints need under torch's
``weights_only`` loading (see :mod:`perception_kd.utils.checkpoint_compat`).
``perception_kd.register_all_modules()`` imports it, and so does every module that loads
checkpoints through ``perception_kd.utils.checkpoint``.
"""
from .checkpoint_compat import (
    history_buffer_getattr,
    mmengine_safe_globals,
    register_mmengine_safe_globals,
)

register_mmengine_safe_globals()

__all__ = ['history_buffer_getattr', 'mmengine_safe_globals', 'register_mmengine_safe_globals']
