"""``register_all_modules()`` fills the registries; unknown types fail with their name."""
import pytest
from mmengine.registry import DefaultScope


def test_register_all_modules_registers_metric():
    import perception_kd
    perception_kd.register_all_modules()
    from perception_kd.evaluation import NuScenesDetMetric
    from perception_kd.registry import METRICS
    assert METRICS.module_dict['NuScenesDetMetric'] is NuScenesDetMetric
    # a config with default_scope='perception_kd' finds it, also through mmengine's root
    from mmengine.registry import METRICS as ROOT_METRICS
    with DefaultScope.overwrite_default_scope('perception_kd'):
        assert METRICS.get('NuScenesDetMetric') is NuScenesDetMetric
        assert ROOT_METRICS.get('perception_kd.NuScenesDetMetric') is NuScenesDetMetric


def test_registries_are_children_with_scope():
    from mmengine.registry import METRICS as ROOT_METRICS

    from perception_kd.registry import DATASETS, METRICS, MODELS, SCOPE, TRANSFORMS
    for registry in (DATASETS, METRICS, MODELS, TRANSFORMS):
        assert registry.scope == SCOPE == 'perception_kd'
    assert METRICS.parent is ROOT_METRICS


def test_unknown_type_names_it():
    import perception_kd  # noqa: F401
    from perception_kd.registry import DATASETS, METRICS
    with DefaultScope.overwrite_default_scope('perception_kd'):
        with pytest.raises(KeyError, match='NoSuchMetric'):
            METRICS.build(dict(type='NoSuchMetric'))
        with pytest.raises(KeyError, match='NoSuchDataset'):
            DATASETS.build(dict(type='NoSuchDataset'))


def test_import_is_quiet_about_spconv_amp_deprecation():
    """spconv's torch.cuda.amp FutureWarnings are silenced; other warnings still show."""
    import subprocess
    import sys
    code = ('import warnings; import perception_kd; '
            'warnings.warn("still shown", FutureWarning)')
    proc = subprocess.run([sys.executable, '-W', 'default', '-c', code], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'custom_fwd' not in proc.stderr and 'custom_bwd' not in proc.stderr, proc.stderr
    assert 'still shown' in proc.stderr
