"""Text and legends drawn onto rendered RGB images (OpenCV)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .palette import CLASS_COLORS, UNKNOWN_CLASS_COLOR

_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _rgb255(color) -> tuple:
    return tuple(int(round(c * 255)) for c in color)


def draw_legend(image: np.ndarray, classes: Sequence[str], title: str = '',
                scale: float = 0.5) -> np.ndarray:
    """Draw a title and a class legend (``solid GT / dashed pred``) at the top left, in place.

    image: (H, W, 3) uint8 RGB. Returns the image.
    """
    import cv2
    row = int(22 * scale / 0.5)
    thickness = max(1, int(round(scale * 2)))
    lines = ([(title, (1.0, 1.0, 1.0))] if title else []) + \
        [('GT solid, pred dashed', (0.85, 0.85, 0.85))] + \
        [(name, CLASS_COLORS.get(name, UNKNOWN_CLASS_COLOR)) for name in classes]
    width = max(cv2.getTextSize(text, _FONT, scale, thickness)[0][0] for text, _ in lines) + 16
    height = row * len(lines) + 8
    h, w = image.shape[:2]
    box = image[:min(height, h), :min(width, w)]
    box[:] = (box * 0.35).astype(np.uint8)        # darken behind the text
    for i, (text, color) in enumerate(lines):
        cv2.putText(image, text, (8, row * (i + 1)), _FONT, scale, _rgb255(color), thickness,
                    cv2.LINE_AA)
    return image


def legend_bar(width: int, classes: Sequence[str], title: str = '',
               scale: float = 0.5) -> np.ndarray:
    """A black strip (h, width, 3) uint8 RGB with the title and class legend in one row."""
    import cv2
    thickness = max(1, int(round(scale * 2)))
    height = int(32 * scale / 0.5)
    bar = np.zeros((height, width, 3), dtype=np.uint8)
    items = ([(title, (1.0, 1.0, 1.0))] if title else []) + \
        [('GT solid, pred dashed:', (0.85, 0.85, 0.85))] + \
        [(name, CLASS_COLORS.get(name, UNKNOWN_CLASS_COLOR)) for name in classes]
    x = 8
    for text, color in items:
        cv2.putText(bar, text, (x, int(height * 0.7)), _FONT, scale, _rgb255(color), thickness,
                    cv2.LINE_AA)
        x += cv2.getTextSize(text, _FONT, scale, thickness)[0][0] + int(18 * scale / 0.5)
    return bar


def draw_label(image: np.ndarray, text: str, origin=(8, 24), scale: float = 0.7) -> np.ndarray:
    """Draw white text with a dark outline at ``origin`` (x, y) in place; returns the image."""
    import cv2
    thickness = max(1, int(round(scale * 2)))
    cv2.putText(image, text, origin, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return image
