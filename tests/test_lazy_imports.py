"""Lazy package imports (issue 17.6): numpy tools never import torch or spconv, the packages
keep their public names, and the registries still find every registered class.

The tool chain runs in a fresh interpreter: in this one pytest and other tests have long
imported torch.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

from perception_kd.lazy import lazy_exports

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # test_imports (importlib mode)
from test_imports import import_graph  # noqa: E402

LAZY_PACKAGES = ('perception_kd', 'perception_kd.datasets', 'perception_kd.datasets.transforms',
                 'perception_kd.structures', 'perception_kd.evaluation', 'perception_kd.ops',
                 'perception_kd.visualization')
HEAVY = ('torch', 'spconv', 'mmengine')


def run_fresh(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=REPO, timeout=timeout,
                         env={**__import__('os').environ, 'PYTHONPATH': str(REPO)})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


# The numpy chain: generate a tiny world, its info files, split it, results JSON of its
# ground truth as pseudo labels, OCFs of labelled and pseudo-labelled scenes, superpixels,
# a noisy-ground-truth results file and its BEV plot and camera mosaic (visualize, no model).
TOOL_CHAIN = r'''
import importlib.util, json, os, pickle, sys, tempfile

def tool(name):
    spec = importlib.util.spec_from_file_location('t_' + name, f'tools/{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

import contextlib, io
for name in ('make_synthetic', 'create_data', 'split_infos', 'make_ocf', 'make_superpixels',
             'visualize'):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            tool(name).parse_args(['--help'])
    except SystemExit as exit_:
        assert exit_.code == 0, name
import perception_kd, perception_kd.ocf, perception_kd.datasets.io
import perception_kd.datasets.infos, perception_kd.datasets.split
root = os.path.join(tempfile.mkdtemp(), 'nusc')
tool('make_synthetic').main(['--out', root, '--scenes', '3', '--keyframes', '2', '--lidar-hz',
                             '2', '--image-size', '64x36', '--beams', '8', '--workers', '1',
                             '--no-lidarseg'])
paths = tool('create_data').main([root, '--max-sweeps', '1', '--no-progress'])
from perception_kd.evaluation.nuscenes_format import (
    NUSCENES_DETECTION_CLASSES, lidar2global_of_info, predictions_to_results)
infos = []
for path in paths.values():
    with open(path, 'rb') as f:
        infos += pickle.load(f)['data_list']
results = {}
for info in infos:
    boxes = [i['bbox_3d'] + [0.0, 0.0] for i in info['instances'] if i['bbox_label_3d'] >= 0]
    labels = [i['bbox_label_3d'] for i in info['instances'] if i['bbox_label_3d'] >= 0]
    results[info['token']] = predictions_to_results(
        info['token'], boxes, [0.9] * len(boxes), labels, NUSCENES_DETECTION_CLASSES,
        lidar2global_of_info(info))
with open(os.path.join(root, 'results.json'), 'w') as f:
    json.dump(dict(meta={}, results=results), f)
split = tool('split_infos').main([paths['train'], '--labelled-fraction', '0.5'])
summary = tool('make_ocf').main([root, '--no-progress', '--infos', split.labelled_path,
                                 split.unlabelled_path, paths['val'],
                                 '--pseudo-labels', os.path.join(root, 'results.json')])
assert summary.frames > 0, summary
tool('make_superpixels').main([root, '--n-segments', '20'])
print('loaded:', sorted(m for m in HEAVY if m in sys.modules))
noisy = os.path.join(root, 'noisy.json')
visualize = tool('visualize')
assert visualize.main(['--info', paths['val'], '--write-noisy-gt', noisy]) == 0
assert visualize.main(['--info', paths['val'], '--results', noisy, '--out',
                       os.path.join(root, 'vis'), '--views', 'none', '--bev', '--cameras',
                       '--bev-size', '200']) == 0
assert os.listdir(os.path.join(root, 'vis'))
print('loaded:', sorted(m for m in HEAVY if m in sys.modules))
'''


def test_numpy_tools_never_import_torch_or_spconv():
    out = run_fresh(f'HEAVY = {HEAVY!r}\n' + TOOL_CHAIN)
    loaded = [line for line in out.stdout.splitlines() if line.startswith('loaded:')]
    assert len(loaded) == 2, out.stdout[-2000:]
    # the data tools do not even import mmengine (0.5 s); visualize's point loading
    # transforms import mmengine's registry (not torch)
    assert loaded[0] == 'loaded: []', loaded
    assert loaded[1] == "loaded: ['mmengine']", loaded


def test_bare_package_import_is_light():
    out = run_fresh('import sys, perception_kd, perception_kd.ocf, perception_kd.datasets, '
                    'perception_kd.structures, perception_kd.evaluation, '
                    'perception_kd.visualization, perception_kd.ops, '
                    'perception_kd.datasets.synthetic\n'
                    f'print(sorted(m for m in {HEAVY!r} if m in sys.modules))')
    assert out.stdout.strip() == '[]'


def test_registry_lookup_imports_its_modules():
    """Without register_all_modules, a lookup (also through mmengine's root registries
    with the default scope) imports the registering modules: the registries' locations."""
    code = '''
import sys
from mmengine.registry import DefaultScope, TRANSFORMS as ROOT_TRANSFORMS
from perception_kd.registry import DATASETS, HOOKS, METRICS, MODELS, OPTIM_WRAPPERS
assert 'perception_kd.datasets.nuscenes' not in sys.modules
with DefaultScope.overwrite_default_scope('perception_kd'):     # as in a Runner
    step = ROOT_TRANSFORMS.build(dict(type='PointShuffle'))
assert type(step).__module__ == 'perception_kd.datasets.transforms.filters'
assert 'perception_kd.models' not in sys.modules      # transforms only
assert DATASETS.get('NuScenesDataset').__name__ == 'NuScenesDataset'
assert METRICS.get('NuScenesDetMetric').__name__ == 'NuScenesDetMetric'
assert HOOKS.get('Det3DVisualizationHook').__name__ == 'Det3DVisualizationHook'
assert OPTIM_WRAPPERS.get('CPUAutocastOptimWrapper').__name__ == 'CPUAutocastOptimWrapper'
assert MODELS.get('Distiller').__name__ == 'Distiller'
print('ok')
'''
    assert run_fresh(code).stdout.strip() == 'ok'


def test_locations_cover_every_registered_class():
    """Each class registered in a perception_kd registry lives in one of that registry's
    locations, or in a module that an eager location package imports."""
    import perception_kd
    from perception_kd import registry
    perception_kd.register_all_modules()
    perception_kd.register_all_modules()             # idempotent
    assert 'perception_kd.utils' in sys.modules     # torch.load allowlist
    graph = import_graph()

    def reachable(start: str) -> set:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return seen

    checked = 0
    for value in vars(registry).values():
        if not (hasattr(value, 'module_dict') and getattr(value, 'scope', '') == 'perception_kd'):
            continue
        locations = [f'perception_kd.{loc}' for loc in registry.LOCATIONS[value.name]]
        assert sorted(value._locations) == sorted(locations)
        for name, obj in value.module_dict.items():
            module = obj.__module__
            if not module.startswith('perception_kd.'):
                continue           # registered by tests (e.g. tests/tools/toy_task.py)
            ok = module in locations or any(
                module in reachable(loc) and not hasattr(importlib.import_module(loc),
                                                         '__getattr__')
                for loc in locations)
            assert ok, (f'{name} ({module}) registers in {value.name!r} but its locations '
                        f'{locations} do not import it: add it to registry.LOCATIONS')
            checked += 1
    assert checked > 50


@pytest.mark.parametrize('package', LAZY_PACKAGES)
def test_public_names_resolve_to_the_defining_objects(package):
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        value = getattr(module, name)
        assert not isinstance(value, types.ModuleType), f'{package}.{name} is a module'
        assert name in dir(module)
    # the objects are those of the submodules, e.g. the registered classes
    from perception_kd.datasets import NuScenesDataset, SceneSequentialSampler
    from perception_kd.datasets.nuscenes import NuScenesDataset as Defined
    from perception_kd.registry import DATA_SAMPLERS, DATASETS
    assert NuScenesDataset is Defined is DATASETS.get('NuScenesDataset')
    assert SceneSequentialSampler is DATA_SAMPLERS.get('SceneSequentialSampler')


def test_export_shadowing_its_submodule_stays_the_export():
    code = '''
import importlib
submodule = importlib.import_module('perception_kd.ops.voxelize')   # the submodule first
import perception_kd.ops as ops
from perception_kd.ops import voxelize, points_in_boxes
import perception_kd.ops.points_in_boxes
assert callable(voxelize) and voxelize is submodule.voxelize and ops.voxelize is voxelize
assert ops.points_in_boxes is points_in_boxes and callable(points_in_boxes)
assert importlib.import_module('perception_kd.ops.voxelize') is submodule
assert isinstance(submodule, type(importlib)) and hasattr(submodule, 'voxelize_batch')
from perception_kd.visualization import camera_mosaic
assert callable(camera_mosaic)
print('ok')
'''
    assert run_fresh(code).stdout.strip() == 'ok'


def test_lazy_exports_refuses_ambiguous_names():
    with pytest.raises(ValueError, match="'x' exported by both"):
        lazy_exports('pkg', {'a': ('x',), 'b': ('x',)})
    with pytest.raises(ValueError, match='both exports and submodules'):
        lazy_exports('pkg', {'a': ('b',)}, submodules=('b',))
    import perception_kd.structures as structures
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        structures.no_such_name  # noqa: B018
