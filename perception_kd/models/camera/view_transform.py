"""``DepthLSSTransform``: image features -> BEV by lift-splat with a learned, supervised depth.

Lift: a :class:`DepthNet` predicts for every feature cell a softmax over D depth bins and C
context channels; the frustum (u, v, d) of the feature grid in augmented-image pixels is
taken to the augmented LiDAR frame (inverse image augmentation, inverse ``cam2img``,
inverse ``lidar2cam``, ``bda_mat``). Splat: the features depth x context are summed into
the BEV cells of a :class:`BEVGrid` (W along +x, H along +y), so the map lines up with
the LiDAR encoder's. The depth is supervised by LiDAR (:mod:`.depth_loss`).
"""
from __future__ import annotations

from collections.abc import Sequence

from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ...structures import BEVGrid
from .bev_pool import bev_pool
from .depth_loss import depth_bce_loss, depth_bin_targets
from .depth_net import DepthNet
from .geometry import CameraGeometry, build_frustum, lift_to_lidar, num_depth_bins


@MODELS.register_module()
class DepthLSSTransform(BaseModule):
    """Lift-splat-shoot view transform with BEVDepth depth supervision.

    Args:
        in_channels: channels of the image feature map.
        out_channels: C of the BEV map (the context channels).
        point_cloud_range: (x_min, y_min, z_min, x_max, y_max, z_max) of the BEV grid;
            z is not used for the grid (see ``z_range``).
        bev_cell: BEV cell size in metres (grid = ``BEVGrid.from_range(pcr, bev_cell)``).
        dbound: depth bins (d_min, d_max, step) in metres, e.g. (1.0, 60.0, 0.5).
        mid_channels: width of the depth net.
        z_range: drop frustum points whose z (augmented LiDAR) is outside [z0, z1);
            ``None`` keeps every height.
        camera_aware: camera-parameter gates in the depth net (BEVDepth).
        loss_depth_weight: weight of ``loss_depth``; 0 disables depth supervision.
        depth_from_keyframe: supervise depth with the keyframe's own points only (time lag,
            column 4, equal to 0), as BEVDepth does: merged sweeps smear moving objects.
    """

    def __init__(self, in_channels: int, out_channels: int, point_cloud_range: Sequence[float],
                 bev_cell: float, dbound: Sequence[float] = (1.0, 60.0, 0.5),
                 mid_channels: int = 256, z_range: Sequence[float] | None = (-10.0, 10.0),
                 camera_aware: bool = True, loss_depth_weight: float = 3.0,
                 depth_from_keyframe: bool = True, init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.grid = BEVGrid.from_range(point_cloud_range, bev_cell)
        self.dbound = tuple(float(v) for v in dbound)
        self.num_bins = num_depth_bins(self.dbound)
        self.out_channels = out_channels
        self.z_range = None if z_range is None else (float(z_range[0]), float(z_range[1]))
        self.loss_depth_weight = loss_depth_weight
        self.depth_from_keyframe = depth_from_keyframe
        self.depth_net = DepthNet(in_channels, mid_channels, out_channels, self.num_bins,
                                  camera_aware=camera_aware)
        self._frustum_cache: dict[tuple, Tensor] = {}

    def frustum(self, img_hw: tuple[int, int], feat_hw: tuple[int, int], device) -> Tensor:
        """(D*h*w, 3) augmented-image (u, v, d) of the feature grid, built once per shape."""
        key = (tuple(img_hw), tuple(feat_hw), str(device))
        if key not in self._frustum_cache:
            self._frustum_cache[key] = build_frustum(img_hw, feat_hw, self.dbound,
                                                     device).reshape(-1, 3)
        return self._frustum_cache[key]

    def frustum_points(self, geometry: CameraGeometry, img_hw: tuple[int, int],
                       feat_hw: tuple[int, int]) -> Tensor:
        """(B*Ncam, D*h*w, 3) frustum points in the augmented LiDAR frame."""
        uvd = self.frustum(img_hw, feat_hw, geometry.cam2img.device)
        return lift_to_lidar(uvd, geometry).flatten(0, 1)

    def forward(self, feats: Tensor, geometry: CameraGeometry,
                img_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Image features -> BEV.

        Args:
            feats: (B*Ncam, C_in, h, w) image features, cameras of a sample contiguous.
            geometry: the batch's camera matrices (B samples, Ncam cameras).
            img_hw: (H, W) of the network input images (the feature stride is H/h, W/w).

        Returns:
            bev (B, C, H_bev, W_bev) on ``self.grid``; depth probabilities (B*Ncam, D, h, w).
        """
        batch_size, num_cams = geometry.cam2img.shape[:2]
        if feats.shape[0] != batch_size * num_cams:
            raise ValueError(f'{feats.shape[0]} feature maps for {batch_size} samples x '
                             f'{num_cams} cameras')
        params = geometry.camera_params() if self.depth_net.camera_aware else None
        depth_logits, context = self.depth_net(feats, params)
        depth = depth_logits.softmax(1)
        points = self.frustum_points(geometry, img_hw, feats.shape[-2:])
        bev = bev_pool(depth, context, points, self.grid, num_cams, self.z_range)
        return bev, depth

    def loss(self, depth: Tensor, points: Sequence[Tensor], lidar2img: Tensor, bda: Tensor,
             img_hw: tuple[int, int]) -> dict[str, Tensor]:
        """``loss_depth`` of the predicted depth probabilities (B*Ncam, D, h, w) against the
        LiDAR ``points`` (B tensors (N_b, >=3), augmented LiDAR frame, column 4 the time
        lag when present); ``lidar2img``
        (B, Ncam, 4, 4) includes the image augmentation, ``bda`` (B, 4, 4)."""
        if self.loss_depth_weight == 0:
            return {}
        if self.depth_from_keyframe:
            points = [pts[pts[:, 4] == 0] if pts.shape[1] > 4 else pts for pts in points]
        labels = depth_bin_targets(points, lidar2img, bda, img_hw, depth.shape[-2:], self.dbound)
        loss = depth_bce_loss(depth, labels.to(depth.device))
        return dict(loss_depth=self.loss_depth_weight * loss)
