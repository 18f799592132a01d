"""``InfoFileSamples`` (numpy only) gives the samples ``NuScenesDataset`` gives in test mode
with an empty pipeline, sample by sample."""
import numpy as np
import pytest

from perception_kd.datasets.info_parser import InfoFileSamples
from perception_kd.datasets.nuscenes import NuScenesDataset


def assert_same(a, b, where='sample'):
    assert type(a) is type(b), f'{where}: {type(a)} != {type(b)}'
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f'{where}: keys {sorted(a)} != {sorted(b)}'
        for key in a:
            assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{where}[{i}]')
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == 'f'), where
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


@pytest.mark.parametrize('classes', [None, ('pedestrian', 'car')])
@pytest.mark.parametrize('split', ['train', 'val'])
def test_samples_equal_the_datasets(tiny_root, tiny_infos, split, classes):
    kwargs = dict(data_root=tiny_root, ann_file=tiny_infos[split],
                  modality=dict(use_lidar=True, use_camera=True),
                  data_prefix=dict(sweeps='sweeps/LIDAR_TOP'))
    if classes:
        kwargs['metainfo'] = dict(classes=classes)
    dataset = NuScenesDataset(pipeline=[], test_mode=True, **kwargs)
    samples = InfoFileSamples(**kwargs)
    assert len(samples) == len(dataset) > 0
    assert_same(samples.metainfo, dataset.metainfo, 'metainfo')
    assert samples.ann_file == dataset.ann_file and samples.data_root == dataset.data_root
    for idx in (*range(len(dataset)), -1):
        assert_same(samples.get_data_info(idx), dataset.get_data_info(idx), f'sample {idx}')
    if classes:     # the remapping is exercised: some instances dropped, labels in range
        labels = np.concatenate([samples.get_data_info(i)['ann_info']['gt_labels_3d']
                                 for i in range(len(samples))])
        assert set(labels.tolist()) <= {0, 1} and len(labels) > 0


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match='create_data.py'):
        InfoFileSamples(str(tmp_path), str(tmp_path / 'nuscenes_infos_val.pkl'))


def test_sample_idx_is_the_position_as_in_the_dataset(tiny_root, tiny_infos, tmp_path):
    """mmengine's get_data_info overwrites an info's own sample_idx with its position."""
    import pickle
    with open(tiny_infos['val'], 'rb') as f:
        data = pickle.load(f)
    for info in data['data_list']:
        info['sample_idx'] += 100
    path = tmp_path / 'shifted.pkl'
    path.write_bytes(pickle.dumps(data))
    kwargs = dict(data_root=tiny_root, ann_file=str(path))
    dataset = NuScenesDataset(pipeline=[], test_mode=True, **kwargs)
    samples = InfoFileSamples(**kwargs)
    for idx in (0, len(samples) - 1, -1):
        assert_same(samples.get_data_info(idx), dataset.get_data_info(idx), f'sample {idx}')
    assert samples.get_data_info(-1)['sample_idx'] == len(samples) - 1
