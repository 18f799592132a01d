"""Lift-splat voxel pooling in plain torch: frustum features summed into BEV cells.

Every frustum point (camera n, depth bin k, feature cell (i, j)) carries the feature
``depth[n, k, i, j] * context[n, :, i, j]``; points are binned into the BEV grid by their
(x, y) in the augmented LiDAR frame (through :class:`BEVGrid`) and summed per cell with
one ``index_add_`` - no per-point Python loop. The (points x C) products are formed only
for points that land inside the grid.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...structures import BEVGrid


def frustum_cells(points: Tensor, grid: BEVGrid, num_cams: int,
                  z_range: tuple[float, float] | None = None) -> tuple[Tensor, Tensor]:
    """Flat BEV cell of every frustum point inside the grid.

    points: (B*Ncam, P, 3) augmented-LiDAR coordinates (P = D*h*w, in (D, h, w) order).
    Returns ``(point_index, cell_index)``: long (M,) indices into the flattened points
    (B*Ncam*P) and into the flattened BEV (B*H*W) of the batch.
    """
    height, width = grid.shape
    rows, cols = grid.cell_index(points[..., 0], points[..., 1])  # (B*N, P) each
    valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    if z_range is not None:
        z = points[..., 2]
        valid &= (z >= z_range[0]) & (z < z_range[1])
    point_index = valid.flatten().nonzero().squeeze(1)
    batch = torch.div(point_index, num_cams * points.shape[1], rounding_mode='floor')
    cell_index = (batch * height + rows.flatten()[point_index]) * width \
        + cols.flatten()[point_index]
    return point_index, cell_index


def bev_pool(depth: Tensor, context: Tensor, points: Tensor, grid: BEVGrid, num_cams: int,
             z_range: tuple[float, float] | None = None) -> Tensor:
    """Splat ``depth x context`` frustum features into a BEV map.

    Args:
        depth: (B*Ncam, D, h, w) depth distribution (e.g. softmax over D).
        context: (B*Ncam, C, h, w) context features.
        points: (B*Ncam, D*h*w, 3) augmented-LiDAR coordinates of the frustum points,
            (D, h, w) flattened in that order.
        grid: the BEV grid of the output.
        num_cams: Ncam (cameras per sample).
        z_range: keep only points with z in [z0, z1) when given.

    Returns:
        (B, C, H, W) float32, W along +x and H along +y (the project's BEV layout).
    """
    bn, num_bins, feat_h, feat_w = depth.shape
    if context.shape[0] != bn or context.shape[-2:] != depth.shape[-2:]:
        raise ValueError(f'depth {tuple(depth.shape)} and context {tuple(context.shape)} must '
                         'share (B*Ncam, h, w)')
    if points.shape[:2] != (bn, num_bins * feat_h * feat_w):
        raise ValueError(f'frustum points {tuple(points.shape)} do not match depth '
                         f'{tuple(depth.shape)}: expected (B*Ncam, D*h*w, 3)')
    if bn % num_cams:
        raise ValueError(f'{bn} camera images are not a multiple of num_cams={num_cams}')
    batch_size, channels = bn // num_cams, context.shape[1]
    height, width = grid.shape
    point_index, cell_index = frustum_cells(points, grid, num_cams, z_range)
    pixels = feat_h * feat_w
    # pixel of each point in the (B*N*h*w, C) context table
    pixel_index = torch.div(point_index, num_bins * pixels, rounding_mode='floor') * pixels \
        + point_index % pixels
    # float32 products and sums, also under autocast (bf16/fp16 sums of many points drift)
    ctx = context.float().permute(0, 2, 3, 1).reshape(bn * pixels, channels)
    src = depth.float().reshape(-1).index_select(0, point_index).unsqueeze(1) \
        * ctx.index_select(0, pixel_index)
    out = src.new_zeros(batch_size * height * width, channels)
    out.index_add_(0, cell_index, src)
    return out.view(batch_size, height, width, channels).permute(0, 3, 1, 2).contiguous()
