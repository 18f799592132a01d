"""perception_kd.datasets.io: image maps beside the images."""
import os

import numpy as np
import pytest

from perception_kd.datasets.io import dump_atomic, image_map_path, load_image_map, write_atomic


def test_image_map_path_and_round_trip(tmp_path):
    import cv2
    root = tmp_path / 'root'
    path = image_map_path('samples/CAM_FRONT/a.jpg', str(root), 'superpixels/slic')
    assert path == str(root / 'superpixels/slic/samples/CAM_FRONT/a.png')
    assert image_map_path(str(root / 'samples/CAM_FRONT/a.jpg'), str(root), 'x') == \
        str(root / 'x/samples/CAM_FRONT/a.png')
    # relative to the working directory, as the dataset resolves it (data_root + path)
    rel_root = os.path.relpath(root)
    assert image_map_path(os.path.join(rel_root, 'samples/CAM_FRONT/a.jpg'), rel_root, 'x') == \
        str(root / 'x/samples/CAM_FRONT/a.png')
    with pytest.raises(ValueError, match='not under data_root'):
        image_map_path(str(tmp_path / 'elsewhere/a.jpg'), str(root), 'x')
    seg = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    ok, png = cv2.imencode('.png', seg)
    write_atomic(path, lambda f: f.write(png.tobytes()))
    back = load_image_map(path)
    assert back.dtype == np.uint16 and np.array_equal(back, seg)
    with pytest.raises(FileNotFoundError, match='make it with X'):
        load_image_map(str(root / 'missing.png'), hint='make it with X')


def test_atomic_files_get_the_usual_mode(tmp_path):
    """Issue 14 (9): written data is not left at the temporary file's 0600."""
    import stat

    from perception_kd.datasets.io import dump_atomic, save_points
    old = os.umask(0o022)
    try:
        save_points(str(tmp_path / 'a.pcd.bin'), np.zeros((2, 5), np.float32))
        dump_atomic({'data_list': []}, str(tmp_path / 'infos.pkl'))
        os.umask(0o027)
        dump_atomic({'data_list': []}, str(tmp_path / 'group.pkl'))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.pcd.bin').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'infos.pkl').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'group.pkl').st_mode) == 0o640


def test_info_file_problem_and_unwritable_folders(tmp_path):
    """Issue 14, point 7: the cheap checks behind the start-up checks of the tools."""
    from perception_kd.datasets.io import (
        NotWritableError,
        check_writable_dir,
        info_file_problem,
    )
    info = tmp_path / 'infos.pkl'
    dump_atomic({'metainfo': {}, 'data_list': [{'token': 'a' * 32}] * 50}, str(info))
    assert info_file_problem(str(info)) is None
    data = info.read_bytes()
    info.write_bytes(data[:-1])
    assert info_file_problem(str(info)) == f'truncated ({len(data) - 1} bytes, no end-of-' \
                                           'pickle mark)'
    info.write_bytes(b'')
    assert info_file_problem(str(info)) == 'empty (0 bytes)'
    info.write_text('token,scene\n')
    assert info_file_problem(str(info)).startswith("not a pickle (12 bytes, starts with b'to'")
    assert info_file_problem(str(tmp_path / 'nope.pkl')).startswith('cannot be read')

    blocker = tmp_path / 'blocker'
    blocker.write_text('a file where a folder should be')
    with pytest.raises(NotWritableError, match=rf'^work dir {blocker}/sub cannot be written: '
                                               rf'{blocker} is a file, not a folder$'):
        check_writable_dir(str(blocker / 'sub'), 'work dir')
    with pytest.raises(OSError, match=rf'^cannot write {blocker}/x.pkl: {blocker} is a file'):
        write_atomic(str(blocker / 'x.pkl'), lambda file: file.write(b'x'))
    check_writable_dir(str(tmp_path / 'new' / 'folder'))          # created, probe removed
    assert os.listdir(tmp_path / 'new' / 'folder') == []
