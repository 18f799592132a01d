"""Lazy package exports (PEP 562): a package names its public objects without importing
the submodules that define them until one is used.

``import perception_kd.ocf`` or ``tools/make_ocf.py`` must not pay seconds of torch, spconv
and mmengine start-up for numpy code (issue 17.6). A package ``__init__`` therefore lists
its exports instead of importing them::

    from ..lazy import lazy_exports

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {
        'boxes': ('GlobalBoxes', 'box_corners'),
        'transforms': ('invert', 'rotz'),
    }, submodules=('boxes', 'transforms'))

``from perception_kd.structures import GlobalBoxes`` then imports ``structures.boxes``
only, and gives the very object that module defines (it is cached on the package after
the first access). Registration in the mmengine registries does not rely on package
imports: see :func:`perception_kd.registry.register_all_modules`.

This module imports nothing of the package and nothing outside the standard library.
"""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping

__all__ = ['lazy_exports']


def lazy_exports(module_name: str, exports: Mapping[str, Iterable[str]],
                 submodules: Iterable[str] = ()) -> tuple[list[str], Callable, Callable]:
    """``(__all__, __getattr__, __dir__)`` of package ``module_name``.

    Args:
        module_name: the package (its ``__name__``).
        exports: submodule (relative to the package, e.g. ``'boxes'`` or
            ``'transforms.loading'``) -> the public names it defines; these form
            ``__all__`` in this order.
        submodules: submodules reachable as attributes (``package.boxes``) that the
            package used to import eagerly; also imported on first access.

    An export may share its name with the submodule that defines it (``ops.voxelize``, the
    function of ``ops/voxelize.py``): as with an eager ``from .voxelize import voxelize``,
    the package attribute is the function, also after the submodule is imported directly
    (the import system's ``setattr(package, 'voxelize', <module>)`` is ignored).

    A name defined twice, or given both as an export and a submodule, raises ValueError.
    """
    owner: dict[str, str] = {}
    for submodule, names in exports.items():
        for name in names:
            if name in owner:
                raise ValueError(f'{module_name}: {name!r} exported by both '
                                 f'.{owner[name]} and .{submodule}')
            owner[name] = submodule
    subs = tuple(submodules)
    clash = set(subs) & set(owner)
    if clash:
        raise ValueError(f'{module_name}: {sorted(clash)} are both exports and submodules')
    public = list(owner)
    shadowed = {name for name in owner if f'{module_name}.{name}' in _candidate_modules(
        module_name, exports)}
    if shadowed:
        package = sys.modules[module_name]
        package.__class__ = type('LazyPackage', (types.ModuleType,), {
            '__setattr__': _setattr_keeping(frozenset(shadowed))})

    def __getattr__(name: str):
        if name in owner:
            value = getattr(importlib.import_module(f'{module_name}.{owner[name]}'), name)
        elif name in subs:
            value = importlib.import_module(f'{module_name}.{name}')
        else:
            raise AttributeError(f'module {module_name!r} has no attribute {name!r}')
        module = importlib.import_module(module_name)
        setattr(module, name, value)     # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        module = importlib.import_module(module_name)
        return sorted(set(vars(module)) | set(owner) | set(subs))

    return public, __getattr__, __dir__


def _candidate_modules(module_name: str, exports: Mapping[str, Iterable[str]]) -> set[str]:
    """Full names of the submodules named in ``exports`` and their parents in the package."""
    names = set()
    for submodule in exports:
        parts = submodule.split('.')
        names.update(f'{module_name}.' + '.'.join(parts[:i + 1]) for i in range(len(parts)))
    return names


def _setattr_keeping(shadowed: frozenset) -> Callable:
    """A module ``__setattr__`` that lets no submodule overwrite the exports in ``shadowed``."""
    def __setattr__(self, name, value):
        if name in shadowed and isinstance(value, types.ModuleType):
            return
        types.ModuleType.__setattr__(self, name, value)
    return __setattr__
