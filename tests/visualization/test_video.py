"""visualization/video.py: PNG frames -> MP4 (OpenCV) or, where MP4 cannot be written, GIF."""
import cv2
import numpy as np
import pytest
from PIL import Image

from perception_kd.visualization.video import save_png, write_video

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def frames(tmp_path):
    paths = []
    for i, colour in enumerate(COLOURS):
        size = (48, 64) if i < 2 else (24, 32)          # the last one is resized
        image = np.zeros((*size, 3), np.uint8) + np.array(colour, np.uint8)
        paths.append(save_png(image, str(tmp_path / f'frame_{i}.png')))
    return paths


def can_write_mp4(tmp_path) -> bool:
    probe = cv2.VideoWriter(str(tmp_path / 'probe.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 2.0,
                            (64, 48))
    opened = probe.isOpened()
    probe.release()
    return opened


def test_mp4_has_every_frame_in_order(tmp_path):
    mp4 = can_write_mp4(tmp_path)
    path = write_video(frames(tmp_path), str(tmp_path / 'out' / 'scene.mp4'), fps=2.0)
    if not mp4:   # this OpenCV cannot write MP4: the documented GIF fallback
        assert path == str(tmp_path / 'out' / 'scene.gif')
        gif = Image.open(path)
        assert gif.n_frames == 3 and gif.size == (64, 48)
        return
    assert path == str(tmp_path / 'out' / 'scene.mp4')
    capture = cv2.VideoCapture(path)
    decoded = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        decoded.append(image)
    capture.release()
    assert len(decoded) == 3
    assert all(image.shape == (48, 64, 3) for image in decoded)
    for image, colour in zip(decoded, COLOURS):     # lossy codec: the dominant channel
        mean_rgb = image[..., ::-1].reshape(-1, 3).mean(0)
        assert int(np.argmax(mean_rgb)) == int(np.argmax(colour)), mean_rgb


def test_video_errors(tmp_path):
    with pytest.raises(ValueError, match='no frames'):
        write_video([], str(tmp_path / 'x.mp4'))
    with pytest.raises(ValueError, match='unknown format'):
        write_video(frames(tmp_path), str(tmp_path / 'x.avi'))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        write_video([str(tmp_path / 'missing.png')], str(tmp_path / 'x.mp4'))
