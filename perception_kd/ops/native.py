"""The project's own compiled CPU kernels, built on first use.

:func:`load` compiles ``csrc/*.cpp`` with ``torch.utils.cpp_extension.load`` (a C++ compiler
and ninja; ninja comes with spconv) into torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``), once per source
version and torch build (~1 min on 2 cores), and imports it afterwards in milliseconds.
Where it cannot be built (no compiler, or ``PERCEPTION_KD_NATIVE=0``), :func:`load`
returns None after one warning and callers keep their other backends, so nothing depends on
it. Build it ahead of time (``make venv`` does) with::

    python -m perception_kd.ops.native
"""
from __future__ import annotations

import glob
import os
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ['load', 'load_error', 'available', 'built', 'disabled', 'SOURCES']

SOURCES = (Path(__file__).parent / 'csrc' / 'hard_voxelize.cpp',)
NAME = 'perception_kd_native'
_LOCK = threading.Lock()
_STATE: dict = {}          # 'module': ModuleType | None, 'error': str


def disabled() -> bool:
    """True when ``PERCEPTION_KD_NATIVE`` is set to 0/false/no/off."""
    return os.environ.get('PERCEPTION_KD_NATIVE', '1').strip().lower() in ('0', 'false', 'no',
                                                                            'off')


def load(verbose: bool = False, announce: bool = True) -> ModuleType | None:
    """The compiled module (built if needed), or None where it cannot be built (warned once;
    the reason is in ``load_error()``)."""
    if disabled():
        return None
    if 'module' in _STATE:
        return _STATE['module']
    with _LOCK:
        if 'module' in _STATE:
            return _STATE['module']
        from mmengine.logging import print_log
        start = time.perf_counter()
        try:
            from torch.utils import cpp_extension
            if announce and not built():
                print_log('perception_kd: building the C++ kernels once (about a minute on 2 '
                          'cores; `python -m perception_kd.ops.native` builds them ahead)',
                          logger='current')
            module = cpp_extension.load(name=NAME, sources=[str(s) for s in SOURCES],
                                        extra_cflags=['-O3'], verbose=verbose)
        except Exception as exc:  # no compiler, ninja or headers: keep the other backends
            module = None
            lines = str(exc).strip().splitlines() or ['']
            _STATE['error'] = f'{type(exc).__name__}: {lines[-1]}'
            warnings.warn(f'perception_kd: the C++ kernels ({", ".join(s.name for s in SOURCES)}) '
                          f'could not be built ({_STATE["error"]}); using the spconv/torch '
                          'backends instead (same results, slower). Set PERCEPTION_KD_NATIVE=0 '
                          'to skip the build.', RuntimeWarning, stacklevel=2)
        else:
            seconds = time.perf_counter() - start
            if announce and seconds > 5:
                print_log(f'perception_kd: built the C++ kernels in {seconds:.0f} s (cached in '
                          f'{os.path.dirname(module.__file__)})', logger='current')
        _STATE['module'] = module
        return module


def available() -> bool:
    """Whether the compiled kernels can be used here (builds them if needed)."""
    return load() is not None


def load_error() -> str | None:
    """Why :func:`load` returned None (None if it did not, or was not called)."""
    return _STATE.get('error')


def built() -> bool:
    """Whether a build of the kernels is in torch's extension cache (maybe of older sources:
    :func:`load` rebuilds those)."""
    from torch.utils import cpp_extension
    try:   # <root>/py<ver>_<cpu|cu..>/<name>/
        folder = cpp_extension._get_build_directory(NAME, verbose=False)
    except Exception:  # a private helper of torch: fall back to any build under the root
        folder = os.path.join(cpp_extension.get_default_build_root(), '*', NAME)
    return bool(glob.glob(os.path.join(folder, f'{NAME}*.so')))


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description='Build (or check) the C++ kernels of '
                                     'perception_kd in torch\'s extension cache.')
    parser.add_argument('--quiet', action='store_true', help='print only when building or '
                        'when the build fails')
    args = parser.parse_args(argv)
    if disabled():
        print('PERCEPTION_KD_NATIVE=0: the C++ kernels are disabled')
        return 0
    if not (args.quiet and built()):
        print('building the C++ kernels of perception_kd (once; about a minute on 2 cores)...',
              flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        module = load(announce=False)
    if module is None:
        print(f'the C++ kernels could not be built ({load_error()}); the spconv/torch backends '
              'are used instead (same results, slower)')
        return 1
    if not args.quiet or time.perf_counter() - start > 5:
        print(f'C++ kernels ready in {time.perf_counter() - start:.1f} s: {module.__file__}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
