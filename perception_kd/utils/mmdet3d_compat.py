"""The optional mmdet3d stack (mmcv 2.1.0 with CPU ops, mmdet 3.3.0, mmdet3d 1.4.0):
whether it is importable, and why not.

Installed by ``make mmdet3d`` (``tools/install_mmdet3d.sh``; ``docs/getting_started.md``).
Nothing in the package needs it; ``tests/interop`` skips with :data:`INSTALL_HINT` when
:func:`mmdet3d_missing` returns a reason. Known traps of the stack belong here, handled
by our code, never by editing site-packages. The versions below import as they are with
torch 2.13 on CPU; one trap is handled (:func:`guard_spconv_state_dict_loading`):

- importing ``mmdet3d.models`` replaces ``spconv.pytorch.SparseModule._load_from_state_dict``
  for every spconv layer of the process, the project's included, by a version that
  permutes each sparse conv weight from mmcv's spconv 1.x layout unless the state dict's
  ``_metadata`` says version 2. A state dict rebuilt as a plain dict (any prefix
  stripping: a teacher taken from a distilled checkpoint, LiMA weight transfer, a
  checkpoint written by another tool) has no ``_metadata``, so loading it fails (shape
  mismatch) or, where in = out channels = kernel size, silently scrambles the weights.
"""
from __future__ import annotations

import importlib

__all__ = ['EXPECTED_VERSIONS', 'INSTALL_HINT', 'guard_spconv_state_dict_loading',
           'mmdet3d_missing']

EXPECTED_VERSIONS = {'mmcv': '2.1.0', 'mmdet': '3.3.0', 'mmdet3d': '1.4.0'}
INSTALL_HINT = 'the optional mmdet3d stack is not installed; run `make mmdet3d`'


def mmdet3d_missing() -> str | None:
    """None when mmcv (with its compiled ops), mmdet and mmdet3d import at the expected
    versions; otherwise one line saying what is wrong and how to fix it. When the stack is
    there, ``mmdet3d.models`` is imported and its spconv trap guarded (module doc)."""
    for name in ('mmcv', 'mmcv.ops', 'mmdet', 'mmdet3d'):
        try:
            module = importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - ImportError, or mmdet's version assert
            return f'{INSTALL_HINT} (import {name}: {type(err).__name__}: {err})'
        expected = EXPECTED_VERSIONS.get(name)
        if expected and getattr(module, '__version__', None) != expected:
            return (f'{name} {module.__version__} is installed, the interop is built for '
                    f'{expected}; run `make mmdet3d` in a fresh venv')
    importlib.import_module('mmdet3d.models')
    guard_spconv_state_dict_loading()
    return None


_GUARD_ATTR = '_pkd_versionless_is_v2'


def guard_spconv_state_dict_loading() -> bool:
    """Make mmdet3d's spconv ``_load_from_state_dict`` read a state dict without version
    metadata as what it is in this process: spconv 2.x layout (no permutation). Weights
    whose metadata names an older version are still converted by mmdet3d's code, as it
    intends. Idempotent; returns whether the guard is (now) in place (False: spconv's
    method is not mmdet3d's, nothing to guard)."""
    from spconv.pytorch import SparseModule
    loader = SparseModule._load_from_state_dict
    if getattr(loader, _GUARD_ATTR, False):
        return True
    if 'mmdet3d' not in getattr(loader, '__module__', ''):
        return False

    def load(self, state_dict, prefix, local_metadata, *args, **kwargs):
        if local_metadata.get('version') is None:
            local_metadata = dict(local_metadata, version=2)
        return loader(self, state_dict, prefix, local_metadata, *args, **kwargs)

    setattr(load, _GUARD_ATTR, True)
    load.__wrapped__ = loader
    SparseModule._load_from_state_dict = load
    return True
