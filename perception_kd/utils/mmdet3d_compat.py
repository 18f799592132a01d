"""The optional mmdet3d stack (mmcv 2.1.0 with CPU ops, mmdet 3.3.0, mmdet3d 1.4.0):
whether it is importable, and why not.

Installed by ``make mmdet3d`` (``tools/install_mmdet3d.sh``; ``docs/getting_started.md``).
Nothing in the package needs it; ``tests/interop`` skips with :data:`INSTALL_HINT` when
:func:`mmdet3d_missing` returns a reason. Known traps of the stack belong here, handled
by our code, never by editing site-packages (none is needed for the import today: the
versions below import as they are with torch 2.13 on CPU).
"""
from __future__ import annotations

import importlib

__all__ = ['EXPECTED_VERSIONS', 'INSTALL_HINT', 'mmdet3d_missing']

EXPECTED_VERSIONS = {'mmcv': '2.1.0', 'mmdet': '3.3.0', 'mmdet3d': '1.4.0'}
INSTALL_HINT = 'the optional mmdet3d stack is not installed; run `make mmdet3d`'


def mmdet3d_missing() -> str | None:
    """None when mmcv (with its compiled ops), mmdet and mmdet3d import at the expected
    versions; otherwise one line saying what is wrong and how to fix it."""
    for name in ('mmcv', 'mmcv.ops', 'mmdet', 'mmdet3d'):
        try:
            module = importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - ImportError, or mmdet's version assert
            return f'{INSTALL_HINT} (import {name}: {type(err).__name__}: {err})'
        expected = EXPECTED_VERSIONS.get(name)
        if expected and getattr(module, '__version__', None) != expected:
            return (f'{name} {module.__version__} is installed, the interop is built for '
                    f'{expected}; run `make mmdet3d` in a fresh venv')
    return None
