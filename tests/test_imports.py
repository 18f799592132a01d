"""Layering of the package: no import cycle, models never import datasets or engine, and
:mod:`perception_kd.constants` stays a leaf.

The graph is read from the source (every ``import`` statement, also those inside
functions), so a cycle hidden by the order in which ``perception_kd/__init__`` imports
its sub-packages still fails here.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'perception_kd'


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def import_graph(package: Path = PACKAGE) -> dict:
    """{module: set of perception_kd modules it imports}, imports inside functions included.

    ``from .x import y`` points at ``x.y`` when that is a module, else at ``x``.
    """
    files = {module_name(p, package): p for p in package.rglob('*.py')}
    graph = {}
    for name, path in files.items():
        is_pkg = path.name == '__init__.py'
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split('.') if is_pkg else name.split('.')[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = '.'.join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ''
                targets = [f'{source}.{alias.name}' if f'{source}.{alias.name}' in files
                           else source for alias in node.names]
            else:
                continue
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict) -> list | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_reader_sees_a_cycle(tmp_path):
    pkg = tmp_path / 'perception_kd'
    (pkg / 'sub').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'sub' / '__init__.py').write_text('')
    (pkg / 'a.py').write_text('from .sub.b import f\n')
    (pkg / 'sub' / 'b.py').write_text('def f():\n    from ..a import g\n')
    graph = import_graph(pkg)
    assert graph['perception_kd.a'] == {'perception_kd.sub.b'}
    assert find_cycle(graph) == ['perception_kd.a', 'perception_kd.sub.b', 'perception_kd.a']


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_models_do_not_import_datasets_or_engine():
    bad = {f'{mod} -> {dep}' for mod, deps in import_graph().items()
           if mod.startswith('perception_kd.models')
           for dep in deps if dep.startswith(('perception_kd.datasets', 'perception_kd.engine'))}
    assert not bad, f'models must not import datasets or engine: {sorted(bad)}'


def test_constants_is_a_leaf():
    assert import_graph()['perception_kd.constants'] == set()
    # and loads on its own without torch (tools that only move files rely on it)
    code = ('import importlib.util, sys; spec = importlib.util.spec_from_file_location('
            f'"c", {str(PACKAGE / "constants.py")!r}); m = importlib.util.module_from_spec(spec);'
            ' spec.loader.exec_module(m); assert "torch" not in sys.modules; print(m.CLASSES[0])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'car'
