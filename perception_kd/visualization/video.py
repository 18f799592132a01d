"""Images to files: PNG frames, and a sequence of PNG frames to an animated GIF or an MP4."""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

VIDEO_FORMATS = ('gif', 'mp4')


def save_png(image: np.ndarray, path: str) -> str:
    """Write an (H, W, 3) uint8 RGB image as PNG (folders created); returns the path."""
    import cv2
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write image {path}')
    return path


def write_video(frames: Sequence[str], path: str, fps: float = 2.0) -> str:
    """Write PNG frames (file names, in order) as an animated GIF or MP4 by ``path``'s suffix.

    MP4 goes through OpenCV's ``mp4v`` writer; if this OpenCV build cannot write MP4 a GIF
    is written next to it instead. Frames of another size than the first are resized.
    Returns the path actually written.
    """
    import cv2
    if not frames:
        raise ValueError(f'no frames to write to {path}')
    ext = osp.splitext(path)[1].lower().lstrip('.')
    if ext not in VIDEO_FORMATS:
        raise ValueError(f'video {path}: unknown format {ext!r}; use one of {VIDEO_FORMATS}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    images = []
    for frame in frames:
        image = cv2.imread(frame, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'frame {frame} not found or unreadable')
        if images and image.shape != images[0].shape:
            image = cv2.resize(image, (images[0].shape[1], images[0].shape[0]))
        images.append(image)
    if ext == 'mp4':
        height, width = images[0].shape[:2]
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
        if writer.isOpened():
            for image in images:
                writer.write(image)
            writer.release()
            if osp.isfile(path) and osp.getsize(path) > 0:
                return path
        path = osp.splitext(path)[0] + '.gif'
    from PIL import Image
    pil = [Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) for image in images]
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=int(round(1000 / fps)),
                loop=0, optimize=False)
    return path
