"""SLIC superpixels of the keyframe images: make_superpixels and its CLI."""
import glob
import os

import cv2
import numpy as np
import pytest

from perception_kd.datasets.io import dump_atomic, image_map_path, load_info_file
from perception_kd.datasets.superpixels import keyframe_images, make_superpixels


@pytest.fixture
def small_root(tiny_root, tiny_infos, tmp_path):
    """A root with the tiny tree's images and an info file of one keyframe (6 images)."""
    os.symlink(os.path.join(tiny_root, 'samples'), tmp_path / 'samples')
    data = load_info_file(tiny_infos['train'])
    dump_atomic(dict(metainfo=data['metainfo'], data_list=data['data_list'][:1]),
                str(tmp_path / 'nuscenes_infos_train.pkl'))
    return str(tmp_path)


def test_make_superpixels_and_resume(small_root):
    images = keyframe_images(small_root)
    assert len(images) == 6 and all(os.path.isfile(p) for p in images)
    summary = make_superpixels(small_root, n_segments=60, progress=False)
    assert summary.done == 6 and summary.skipped == 0
    for img_path in images:
        path = image_map_path(img_path, small_root, 'superpixels/slic')
        seg = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert seg.dtype == np.uint16 and seg.shape == cv2.imread(img_path).shape[:2]
        ids = np.unique(seg)
        assert ids[0] == 1 and ids[-1] == len(ids)          # 1..K, no gaps, 0 unused
        assert 20 <= len(ids) <= 120, len(ids)              # about n_segments
    assert 20 <= summary.mean_segments <= 120
    again = make_superpixels(small_root, n_segments=60, progress=False)
    assert again.done == 0 and again.skipped == 6
    assert make_superpixels(small_root, n_segments=60, force=True, progress=False).done == 6
    assert not glob.glob(os.path.join(small_root, 'superpixels', '**', '*.tmp'), recursive=True)


def test_cli_and_errors(small_root, tmp_path, capsys):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tools'))
    import make_superpixels as tool
    tool.main([small_root, '--n-segments', '40'])
    assert '6 images done, 0 skipped' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='not found'):
        tool.main([str(tmp_path / 'missing')])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(SystemExit, match='create_data.py'):
        tool.main([str(empty)])
    os.remove(os.path.join(small_root, 'samples'))
    os.mkdir(os.path.join(small_root, 'samples'))
    with pytest.raises(SystemExit, match='camera image .* not found'):
        tool.main([small_root, '--force'])
