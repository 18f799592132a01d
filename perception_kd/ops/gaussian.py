"""CenterNet-style heatmap targets: Gaussian radius, kernel and drawing (CenterPoint's).

Heatmaps are (H, W) tensors on the BEV grid convention of :class:`perception_kd.structures.BEVGrid`:
rows run along +y, columns along +x, and a centre is given as ``(x_col, y_row)``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ['gaussian_radius', 'heatmap_radius', 'gaussian_2d', 'draw_gaussian',
           'draw_gaussians']

Number = float | torch.Tensor


def gaussian_radius(det_size: tuple[Number, Number], min_overlap: float = 0.7) -> Number:
    """Radius (in cells) of the Gaussian for a box of ``(height, width)`` cells.

    The smallest of the three CornerNet cases (both corners shifted inwards, outwards, or
    one of each) whose shifted box still has IoU >= ``min_overlap`` with the true box,
    with the exact roots as written in CornerNet/CenterPoint/mmdet3d (``(b + sqrt(d)) / 2``),
    so targets match theirs. CenterPoint configs use ``min_overlap=0.1``.

    Args:
        det_size: ``(height, width)``; floats, or tensors of any (equal) shape for many boxes.
        min_overlap: the IoU to keep.

    Returns:
        The radius, a float (or a tensor shaped like the inputs); not rounded or clamped:
        callers usually take ``max(min_radius, int(r))``.
    """
    height, width = det_size
    sqrt = torch.sqrt if isinstance(height, torch.Tensor) or isinstance(width, torch.Tensor) \
        else math.sqrt

    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + sqrt(b1 ** 2 - 4 * c1)) / 2

    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + sqrt(b2 ** 2 - 4 * 4 * c2)) / 2

    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + sqrt(b3 ** 2 - 4 * a3 * c3)) / 2

    if sqrt is math.sqrt:
        return min(r1, r2, r3)
    r1, r2, r3 = (torch.as_tensor(r) for r in (r1, r2, r3))
    return torch.minimum(torch.minimum(r1, r2), r3)


def gaussian_2d(shape: Sequence[int], sigma: float = 1.0, dtype: torch.dtype = torch.float32,
                device: str | torch.device | None = None) -> torch.Tensor:
    """Unnormalised Gaussian kernel (h, w) with value 1 at the centre.

    ``exp(-(x^2 + y^2) / (2 sigma^2))`` over ``x in [-(w-1)/2, (w-1)/2]`` and likewise y;
    values below float64 eps times the peak are set to 0 (as CenterNet). Computed in
    float64, returned in ``dtype``.
    """
    h, w = (int(s) for s in shape)
    m, n = (h - 1) / 2.0, (w - 1) / 2.0
    y = torch.arange(h, dtype=torch.float64, device=device)[:, None] - m
    x = torch.arange(w, dtype=torch.float64, device=device)[None, :] - n
    kernel = torch.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < torch.finfo(torch.float64).eps * kernel.max()] = 0
    return kernel.to(dtype)


def draw_gaussian(heatmap: torch.Tensor, centre: tuple[int, int], radius: int,
                  k: float = 1.0) -> torch.Tensor:
    """Max-merge a Gaussian peak into ``heatmap`` (H, W) in place, and return it.

    Args:
        heatmap: (H, W) float tensor.
        centre: ``(x_col, y_row)`` integer cell of the peak (may lie outside the map: only
            the overlapping part is drawn).
        radius: integer radius r; the kernel is (2r+1, 2r+1) with sigma = (2r+1) / 6.
        k: peak value (the kernel is scaled by k).
    """
    if heatmap.dim() != 2:
        raise ValueError(f'heatmap must be (H, W), got {tuple(heatmap.shape)}')
    radius = int(radius)
    if radius < 0:
        raise ValueError(f'radius must be >= 0, got {radius}')
    x, y = int(centre[0]), int(centre[1])
    height, width = heatmap.shape
    diameter = 2 * radius + 1
    # Window of the map covered by the kernel, clipped at the borders.
    top, bottom = max(y - radius, 0), min(y + radius + 1, height)
    left, right = max(x - radius, 0), min(x + radius + 1, width)
    if top >= bottom or left >= right:
        return heatmap
    kernel = gaussian_2d((diameter, diameter), sigma=diameter / 6, dtype=heatmap.dtype,
                         device=heatmap.device)
    ky, kx = top - (y - radius), left - (x - radius)
    patch = kernel[ky:ky + bottom - top, kx:kx + right - left] * k
    region = heatmap[top:bottom, left:right]
    region.copy_(torch.maximum(region, patch))
    return heatmap


def heatmap_radius(size_x: torch.Tensor, size_y: torch.Tensor, min_overlap: float,
                   min_radius: int = 0) -> torch.Tensor:
    """Integer radii (N,) of the Gaussian peaks of boxes sized (size_x, size_y) in cells:
    ``max(min_radius, floor(gaussian_radius((size_x, size_y), min_overlap)))``."""
    radius = gaussian_radius((size_x, size_y), min_overlap)
    return torch.as_tensor(radius).floor().clamp(min=min_radius).long()


def draw_gaussians(heatmap: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor,
                   radii: torch.Tensor, channels: torch.Tensor | None = None) -> torch.Tensor:
    """Max-merge one Gaussian peak per centre into ``heatmap`` in place, and return it.

    Args:
        heatmap: (H, W), or (C, H, W) with ``channels``.
        cols, rows: (N,) integer cells of the peaks (x_col, y_row); centres off the map draw
            only their overlapping part.
        radii: (N,) integer radii (see :func:`heatmap_radius`).
        channels: (N,) channel of each peak, for a (C, H, W) heatmap.
    """
    if channels is None:
        maps = [heatmap] * len(cols)
    else:
        maps = [heatmap[c] for c in channels.tolist()]
    for target, x, y, r in zip(maps, cols.tolist(), rows.tolist(), radii.tolist()):
        draw_gaussian(target, (int(x), int(y)), int(r))
    return heatmap
