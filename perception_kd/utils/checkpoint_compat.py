"""Make mmengine 0.10.x checkpoints load under torch >= 2.6's ``weights_only`` default.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses any global
that is not allowlisted. mmengine 0.10.7 calls ``torch.load(filename, map_location)``
(no ``weights_only``) when resuming or loading a checkpoint, and a Runner checkpoint
holds more than tensors: the message hub stores ``mmengine.logging.HistoryBuffer``
objects (with numpy float64 arrays and a dict of statistics methods pickled as
``getattr(HistoryBuffer, 'mean')``) and numpy scalars (e.g. ``eta``).

The globals a real Runner checkpoint needs (found with
``torch.serialization.get_unsafe_globals_in_checkpoint`` on a checkpoint written by
``Runner.train()``; see ``tests/utils/test_checkpoint_compat.py``):

- ``mmengine.logging.history_buffer.HistoryBuffer``
- ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` (arrays),
  ``numpy.core.multiarray.scalar`` (scalars), ``numpy.dtype`` and the concrete dtype
  classes (``numpy.dtypes.Float64DType``, ...) whose state is set while unpickling
- ``builtins.getattr``, used only as ``getattr(HistoryBuffer, <method>)``

We allowlist exactly these, with ``torch.serialization.add_safe_globals``; ``weights_only``
stays on, so any other class in a checkpoint still fails to load. ``builtins.getattr`` is
NOT allowlisted as such: the name is mapped to :func:`history_buffer_getattr`, which only
returns public methods of ``HistoryBuffer`` and refuses everything else.

Numpy 1.x pickles name ``numpy.core.multiarray``, numpy 2.x ``numpy._core.multiarray``;
both names are registered so checkpoints written under either load.
"""
from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ['history_buffer_getattr', 'mmengine_safe_globals', 'register_mmengine_safe_globals']

# Concrete numpy dtype classes of plain numeric/bool/string data (no object or void dtypes).
_DTYPE_CLASS_NAMES = (
    'BoolDType', 'Int8DType', 'Int16DType', 'Int32DType', 'Int64DType', 'UInt8DType',
    'UInt16DType', 'UInt32DType', 'UInt64DType', 'ByteDType', 'UByteDType', 'ShortDType',
    'UShortDType', 'IntDType', 'UIntDType', 'LongDType', 'ULongDType', 'LongLongDType',
    'ULongLongDType', 'Float16DType', 'Float32DType', 'Float64DType', 'LongDoubleDType',
    'Complex64DType', 'Complex128DType', 'CLongDoubleDType', 'BytesDType', 'StrDType')

_registered = False


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling: only ``HistoryBuffer`` methods.

    mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``{'mean': getattr(HistoryBuffer, 'mean'), ...}``; anything else is refused.
    """
    from mmengine.logging import HistoryBuffer
    if obj is not HistoryBuffer or not isinstance(name, str) or name.startswith('_'):
        raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a weights_only '
                                     'load (only public HistoryBuffer methods are)')
    value = getattr(HistoryBuffer, name)
    if not callable(value):
        raise pickle.UnpicklingError(f'HistoryBuffer.{name} is not a method')
    return value


def _multiarray():
    name = 'numpy._core.multiarray' if int(np.__version__.split('.')[0]) >= 2 else \
        'numpy.core.multiarray'
    return importlib.import_module(name)


def mmengine_safe_globals() -> list:
    """The allowlist entries (callables or ``(callable, 'module.qualname')`` tuples)."""
    from mmengine.logging import HistoryBuffer
    multiarray = _multiarray()
    entries: list = [HistoryBuffer, np.ndarray, np.dtype,
                     (history_buffer_getattr, 'builtins.getattr')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25
    if dtypes is not None:
        entries.extend(getattr(dtypes, name) for name in _DTYPE_CLASS_NAMES
                       if hasattr(dtypes, name))
    else:  # older numpy: dtype instances are of class np.dtype[...] built on the fly
        entries.extend({type(np.dtype(code)) for code in '?bhilqBHILQefdgFDGSU'})
    return entries


def register_mmengine_safe_globals() -> None:
    """Allowlist what mmengine Runner checkpoints need for ``torch.load(weights_only=True)``.

    Idempotent; called when this module is imported. Does not change the ``weights_only``
    default.
    """
    global _registered
    if _registered:
        return
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no allowlist and loads with weights_only=False anyway
        _registered = True
        return
    add(mmengine_safe_globals())
    _registered = True


register_mmengine_safe_globals()   # on import: the modules that load checkpoints import this
