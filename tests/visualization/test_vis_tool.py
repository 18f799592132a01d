"""tools/visualize.py end to end on the tiny dataset."""
import json

import pytest

from tools.visualize import main


@pytest.fixture(scope='module')
def noisy_results(tiny_root, tiny_infos, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('results') / 'noisy.json')
    main(['--info', tiny_infos['val'], '--data-root', tiny_root, '--write-noisy-gt', path])
    return path


def test_headless_pngs_of_the_requested_size(tiny_root, tiny_infos, noisy_results, tmp_path):
    import cv2
    out = tmp_path / 'vis'
    main(['--info', tiny_infos['val'], '--data-root', tiny_root, '--results', noisy_results,
          '--sample-idx', '1', '--sweeps', '2', '--out', str(out), '--size', '200', '150',
          '--cameras', '--bev', '--mosaic-scale', '0.25'])
    files = sorted(p.name for p in out.iterdir())
    assert [name.rsplit('_', 1)[1] for name in files] == \
        ['bev.png', 'bevplot.png', 'cameras.png', 'chase.png']
    for name in files:
        image = cv2.imread(str(out / name))
        assert image is not None and image.std() > 5, name
        if name.endswith(('_bev.png', '_chase.png')):
            assert image.shape == (150, 200, 3)


def test_scene_video(tiny_root, tiny_infos, tmp_path):
    from PIL import Image
    main(['--info', tiny_infos['val'], '--data-root', tiny_root, '--scene', 'scene-0103',
          '--out', str(tmp_path), '--views', 'bev', '--size', '96', '64', '--video', 'gif',
          '--no-legend'])
    gif = Image.open(tmp_path / 'scene-0103_bev.gif')
    assert gif.n_frames == 4 and gif.size == (96, 64)


def test_clear_errors(tiny_root, tiny_infos, tmp_path, monkeypatch):
    """Each bad input: exit status 2 and one line (the exception's message; see
    perception_kd.utils.cli)."""
    base = ['--info', tiny_infos['val'], '--data-root', tiny_root]
    with pytest.raises(SystemExit, match='^visualize.py: error: .*missing.json not found'):
        main(base + ['--results', str(tmp_path / 'missing.json'), '--out', str(tmp_path)])
    foreign = tmp_path / 'foreign.json'
    foreign.write_text(json.dumps({'meta': {}, 'results': {'b' * 32: []}}))
    with pytest.raises(SystemExit, match='^visualize.py: error: .*not in .*infos_val.pkl'):
        main(base + ['--results', str(foreign), '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match='^visualize.py: error: .*scene-9999'):
        main(base + ['--scene', 'scene-9999', '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match='^visualize.py: error: .*out of range'):
        main(base + ['--sample-idx', '99', '--out', str(tmp_path)])
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(SystemExit, match='^visualize.py: error: .*--out DIR'):
        main(base)
