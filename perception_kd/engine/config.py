"""Config helpers for the command-line tools.

- :func:`load_config`: a clear error for a missing config file.
- :func:`check_cfg_options`: ``--cfg-options`` keys must exist in the config (mmengine
  silently adds unknown ones, so a typo such as ``optim_wraper.optimizer.lr=1e-3``
  would train with the old value); ``+key=value`` (or ``allow_new``) adds a new key.
- :func:`stale_variable_notes`: overriding a top-level variable (``data_root=...``)
  does not change the places the config already substituted it into; say where.
- :func:`set_data_root`, :func:`set_jsonfile_prefix`: path overrides for the tools.
- :func:`explain_registry_error`: turn mmengine's "X is not in the registry" KeyError
  into a message with the scope, close matches and what to check.
"""
from __future__ import annotations

import difflib
import inspect
import os.path as osp
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mmengine.config import Config, DictAction

__all__ = ['ConfigError', 'UnknownConfigKeyError', 'check_cfg_options', 'explain_registry_error',
           'follow_root_version', 'load_config', 'root_version', 'set_data_root',
           'set_jsonfile_prefix', 'stale_variable_notes']

NEW_KEY_PREFIX = '+'


class ConfigError(ValueError):
    """A config (with its command-line overrides) cannot be used as it is."""


class UnknownConfigKeyError(ConfigError, KeyError):
    """``--cfg-options`` names keys that the config does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ''


def add_override_args(parser, example: str) -> None:
    """The options every tool shares: --data-root, --cfg-options, --allow-new, --launcher."""
    parser.add_argument('--data-root', help='override data_root of every dataset and evaluator')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help=f'override config keys, e.g. {example}; +KEY=VALUE adds a new key')
    parser.add_argument('--allow-new', action='store_true',
                        help='let --cfg-options add keys the config does not have')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help="'pytorch' inside torchrun (see tools/dist_train.sh)")


def load_config(path: str) -> Config:
    """``Config.fromfile`` with a clear error for a missing file."""
    if not osp.isfile(path):
        hint = ''
        if not path.endswith('.py') and osp.isfile(path + '.py'):
            hint = f' (did you mean {path}.py?)'
        raise FileNotFoundError(f'config file {path} not found{hint}')
    return Config.fromfile(path)


def _describe(node: Any) -> str:
    return 'None' if node is None else f'a {type(node).__name__}'


def _check_key(cfg: Mapping, key: str) -> str | None:
    """None if ``key`` (dotted, list indices as numbers) exists in ``cfg``, else why not."""
    parts = key.split('.')
    node: Any = cfg
    for i, part in enumerate(parts):
        where = '.'.join(parts[:i]) or 'the config'
        if isinstance(node, Mapping):
            if part in node or (part == '_delete_' and i == len(parts) - 1):
                node = node.get(part)
                continue
            close = difflib.get_close_matches(part, [str(k) for k in node.keys()], n=3)
            hint = f' (did you mean {", ".join(".".join(parts[:i] + [c]) for c in close)}?)' \
                if close else ''
            return f'{key}: {where} has no key {part!r}{hint}'
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                return f'{key}: {where} is a list of {len(node)} items, {part!r} is not an index'
            node = node[int(part)]
            continue
        return f'{key}: {where} is {_describe(node)}, not a dict'
    return None


def check_cfg_options(cfg: Config, options: dict[str, Any] | None,
                      allow_new: bool = False) -> dict[str, Any]:
    """Check that every ``--cfg-options`` key exists in ``cfg``.

    Args:
        cfg: the loaded config.
        options: ``{dotted key: value}`` from mmengine's ``DictAction``; a key starting
            with ``+`` may be new (the ``+`` is removed).
        allow_new: accept new keys without ``+``.

    Returns:
        The options with ``+`` prefixes removed, ready for ``cfg.merge_from_dict``.

    Raises:
        UnknownConfigKeyError: naming each unknown key, with close matches.
    """
    cleaned, problems = {}, []
    for key, value in (options or {}).items():
        new_ok = allow_new or key.startswith(NEW_KEY_PREFIX)
        key = key[len(NEW_KEY_PREFIX):] if key.startswith(NEW_KEY_PREFIX) else key
        if not new_ok:
            problem = _check_key(cfg._cfg_dict, key)
            if problem:
                problems.append(problem)
        cleaned[key] = value
    if problems:
        raise UnknownConfigKeyError(
            f'--cfg-options: {len(problems)} key(s) not in the config {cfg.filename}:\n  ' +
            '\n  '.join(problems) +
            '\nfix the key, or write +KEY=VALUE (or pass --allow-new) to add a new key')
    return cleaned


def _walk(node: Any, path: str = '') -> Iterator[tuple[str, Any]]:
    """All (dotted path, value) pairs of a nested config."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            sub = f'{path}.{key}' if path else str(key)
            yield sub, value
            yield from _walk(value, sub)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            sub = f'{path}.{index}'
            yield sub, value
            yield from _walk(value, sub)


def _equal(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # e.g. arrays with ambiguous truth values
        return False


def stale_variable_notes(cfg: Config, options: dict[str, Any], limit: int = 4) -> list[str]:
    """Notes for overridden top-level variables whose old value the config copied elsewhere.

    mmengine substitutes a variable (e.g. ``data_root``, ``point_cloud_range``) into the
    dicts that use it when the file is parsed; ``--cfg-options data_root=X`` changes only
    the variable. Call before merging the options. Strings and lists are checked.
    """
    notes = []
    for key in options:
        key = key.lstrip(NEW_KEY_PREFIX)
        if '.' in key or key not in cfg:
            continue
        old = cfg[key]
        if not isinstance(old, (str, list, tuple)) or not old:
            continue
        uses = [path for path, value in _walk(cfg._cfg_dict)
                if path != key and not path.startswith(key + '.') and _equal(value, old)]
        if uses:
            shown = ', '.join(uses[:limit]) + (f' and {len(uses) - limit} more'
                                               if len(uses) > limit else '')
            notes.append(f'--cfg-options {key}=...: only the variable {key} changes; the config '
                         f'already used its old value {old!r} at {shown}; override those keys '
                         '(the tools have --data-root for data_root)')
    return notes


def _dataset_dicts(node: Any) -> Iterator[dict]:
    """A dataset config and the datasets it wraps (``dataset`` / ``datasets`` keys)."""
    if isinstance(node, Mapping):
        yield node
        for key in ('dataset', 'datasets'):
            yield from _dataset_dicts(node.get(key))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _dataset_dicts(item)


def _metric_dicts(evaluator: Any) -> list[dict]:
    """The metric configs of an evaluator config (a metric, a list, or ``metrics=[...]``)."""
    if isinstance(evaluator, (list, tuple)):
        return [m for item in evaluator for m in _metric_dicts(item)]
    if isinstance(evaluator, Mapping):
        if 'metrics' in evaluator:
            return _metric_dicts(evaluator['metrics'])
        return [evaluator]
    return []


def set_data_root(cfg: Config, data_root: str, explicit=()) -> list[str]:
    """Point every dataloader's dataset and every evaluator at ``data_root``.

    Sets ``data_root`` where it is already a key: the top-level variable,
    ``*_dataloader.dataset`` (and wrapped datasets) and ``*_evaluator`` metrics. A metric's
    ``version`` (and the top-level variable) follows the root when the root holds the
    tables of exactly one other version (e.g. a ``v1.0-trainval`` benchmark world under a
    ``v1.0-mini`` config), and then its ``eval_set`` too if it was set; not where the user
    set them: ``explicit`` holds the dotted keys given on the command line (a version the
    root lacks is then reported at start-up, see :mod:`perception_kd.engine.preflight`).

    Returns:
        The dotted keys changed.

    Raises:
        ConfigError: the config has no dataset or metric with a ``data_root``.
    """
    data_root = data_root if data_root.endswith('/') else data_root + '/'
    changed = []
    if 'data_root' in cfg:
        cfg.data_root = data_root
        changed.append('data_root')
    for key in list(cfg.keys()):
        if key.endswith('_dataloader') and isinstance(cfg[key], Mapping):
            for i, dataset in enumerate(_dataset_dicts(cfg[key].get('dataset'))):
                if 'data_root' in dataset:
                    dataset['data_root'] = data_root
                    changed.append(f'{key}.dataset' + ('' if i == 0 else f'[{i}]') + '.data_root')
        elif key.endswith('_evaluator'):
            for i, metric in enumerate(_metric_dicts(cfg[key])):
                if 'data_root' in metric:
                    metric['data_root'] = data_root
                    changed.append(f'{key}[{i}].data_root')
                    version = metric.get('version')
                    chosen = [k for k in explicit if k.lstrip('+').startswith(f'{key}.')
                              and k.endswith(('.version', '.eval_set'))]
                    for name in [] if chosen else follow_root_version(metric, data_root):
                        changed.append(f'{key}[{i}].{name}')
                        if name == 'version' and cfg.get('version') == version:
                            cfg.version = metric['version']
    if not [c for c in changed if c != 'data_root']:
        raise ConfigError(f'--data-root: no dataset or evaluator of {cfg.filename} has a data_root')
    return changed


def follow_root_version(metric: dict, data_root: str) -> list[str]:
    """Set a metric's ``version`` to the one ``data_root`` holds when the root has no tables
    of the metric's version but those of exactly one other (and ``eval_set``, if set, to
    that version's default split). Returns the keys changed."""
    version, found = metric.get('version'), root_version(data_root)
    if not version or not found or found == version or osp.isdir(osp.join(data_root, version)):
        return []
    metric['version'] = found
    if not metric.get('eval_set'):
        return ['version']
    from ..evaluation.nuscenes_metric import default_eval_set
    metric['eval_set'] = default_eval_set(found)
    return ['version', 'eval_set']


def root_version(data_root: str) -> str | None:
    """The nuScenes version whose tables ``data_root`` holds (``<root>/v1.0-*/sample.json``),
    or None when there are none or several."""
    import glob
    found = sorted(osp.basename(osp.dirname(p))
                   for p in glob.glob(osp.join(data_root, 'v1.0-*', 'sample.json')))
    return found[0] if len(found) == 1 else None


def set_jsonfile_prefix(cfg: Config, evaluator_key: str, out_dir: str) -> list[str]:
    """Set ``jsonfile_prefix`` of each metric of ``cfg[evaluator_key]`` that takes one.

    With several such metrics, each gets ``<out_dir>/<index>_<type>``.

    Returns:
        The directories set (empty if no metric takes a ``jsonfile_prefix``).
    """
    from mmengine.registry import METRICS
    takers = []
    for metric in _metric_dicts(cfg.get(evaluator_key)):
        metric_type = metric.get('type')
        cls = metric_type
        if isinstance(metric_type, str):
            with METRICS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
                cls = registry.get(metric_type)
        if cls is not None and 'jsonfile_prefix' in inspect.signature(cls).parameters:
            takers.append(metric)
    dirs = []
    for index, metric in enumerate(takers):
        name = metric['type'] if isinstance(metric['type'], str) else metric['type'].__name__
        path = out_dir if len(takers) == 1 else osp.join(out_dir, f'{index}_{name.split(".")[-1]}')
        metric['jsonfile_prefix'] = path
        dirs.append(path)
    return dirs


_NOT_IN_REGISTRY = re.compile(r'(\S+) is not in the (\S+)::(.+?) registry')


def explain_registry_error(exc: BaseException, cfg: Config | None = None) -> str | None:
    """A clear message for mmengine's unknown-type ``KeyError``, or None for other errors.

    Names the type, the registry and its scope, where the config sets it (if ``cfg`` is
    given), close matches among the registered types, and what to check.
    """
    match = _NOT_IN_REGISTRY.search(str(exc))
    if match is None:
        return None
    type_name, scope, registry_name = match.groups()
    type_name = type_name.strip('`\'"')
    known = _registered_names(scope, registry_name)
    close = difflib.get_close_matches(type_name.split('.')[-1], known, n=3, cutoff=0.6)
    lines = [f'unknown type {type_name!r}: not in the {registry_name} registry of scope '
             f'{scope!r} (nor its parents)']
    context = str(exc)[:match.start()].strip(' \'"')
    if context:
        lines.append(f'while building: {context.rstrip(":")}')
    if cfg is not None:
        where = [path for path, value in _walk(cfg._cfg_dict)
                 if path.split('.')[-1] == 'type' and value == type_name]
        if where:
            lines.append(f'set at: {", ".join(where[:5])}')
    if close:
        lines.append(f'did you mean: {", ".join(close)}?')
    if scope != 'perception_kd':
        lines.append("the config's default_scope is not 'perception_kd': inherit "
                     "configs/_base_/default_runtime.py or set default_scope='perception_kd'")
    lines.append('types of perception_kd are registered by perception_kd.register_all_modules() '
                 "(or on a registry's first lookup); a type of another package needs "
                 "custom_imports=dict(imports=['package.module'])")
    return '\n'.join(lines)


def _registered_names(scope: str, registry_name: str) -> list[str]:
    """Names registered in the registry ``scope::registry_name`` and its ancestors."""
    import mmengine.registry as mm_registry
    roots = [reg for reg in vars(mm_registry).values()
             if isinstance(reg, mm_registry.Registry) and reg.name == registry_name]
    names = set()
    for root in roots:
        registry = root._search_child(scope) or root
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
    return sorted(names)
