"""``import perception_kd`` fills the registries; unknown types fail with their name."""
import pytest


def test_import_registers_metric():
    import perception_kd  # noqa: F401
    from perception_kd.registry import METRICS
    assert METRICS.get('NuScenesDetMetric') is not None
    assert 'NuScenesDetMetric' in METRICS.module_dict


def test_registries_are_children_with_scope():
    from mmengine.registry import METRICS as ROOT_METRICS
    from perception_kd.registry import DATASETS, METRICS, MODELS, SCOPE, TRANSFORMS
    for registry in (DATASETS, METRICS, MODELS, TRANSFORMS):
        assert registry.scope == SCOPE == 'perception_kd'
    assert METRICS.parent is ROOT_METRICS


def test_unknown_type_names_it():
    import perception_kd  # noqa: F401
    from perception_kd.registry import DATASETS, METRICS
    with pytest.raises(KeyError, match='NoSuchMetric'):
        METRICS.build(dict(type='NoSuchMetric'))
    with pytest.raises(KeyError, match='NoSuchDataset'):
        DATASETS.build(dict(type='NoSuchDataset'))
