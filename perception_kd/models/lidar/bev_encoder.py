"""``LidarBEVEncoder``: the LiDAR modality encoder of :class:`BEVDetector` (``bev_low``)."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ...registry import MODELS
from ...structures import BEVGrid
from .weight_transfer import TransferReport, transfer_sparse_weights


@MODELS.register_module()
class LidarBEVEncoder(nn.Module):
    """Voxel feature encoder + sparse 3D encoder -> dense BEV map.

    Follows the ``lidar_encoder`` contract of :mod:`perception_kd.models.detectors`:
    ``forward(inputs, data_samples) -> Tensor (B, C, H, W)`` on ``bev_grid`` (W along +x,
    H along +y of the LiDAR frame), reading ``inputs[voxels_key]`` as made by
    :class:`Det3DDataPreprocessor`: ``dict(voxels (M, P, C), num_points (M,), coors (M, 4)
    (b, z, y, x), batch_size)``.

    Args:
        voxel_encoder: e.g. ``dict(type='MeanVFE', num_features=5)``.
        sparse_encoder: e.g. ``dict(type='SparseEncoder', in_channels=5, voxel_size=...,
            point_cloud_range=..., ...)``; must expose ``bev_shape``, ``stride`` and
            ``out_channels``.
        voxels_key: the inputs key to read (``'ocf_voxels'`` for a teacher on OCF clouds).
        bev_cell: if given, the BEV cell size (metres) the config expects; checked against
            the encoder's ``voxel_size[0] * stride``.
        init_sparse_encoder: ``dict(checkpoint=PATH, prefix='backbone_3d.', mapping=None)``:
            initialise the sparse encoder from a pretrained MinkUNet (a LiMA checkpoint)
            where shapes allow, at construction (:func:`transfer_sparse_weights`; the report
            is logged and kept as ``transfer_report``). None or ``checkpoint=None``: random.
        motion_encoder: optional time-indexed BEV stack of the sweeps, e.g.
            ``dict(type='SweepOccupancyBEV', fine_cell=0.2, time_edges=(0.05, 0.15, 0.25))``
            (:class:`SweepOccupancyBEV`; ``point_cloud_range``, ``bev_cell`` and
            ``out_channels`` default to the sparse encoder's); its map is added to the
            sparse encoder's BEV map, so the output shape is unchanged.
    """

    def __init__(self, voxel_encoder: dict, sparse_encoder: dict, voxels_key: str = 'voxels',
                 bev_cell: float | None = None, init_sparse_encoder: dict | None = None,
                 motion_encoder: dict | None = None, motion_side: bool = False):
        super().__init__()
        self.voxel_encoder = MODELS.build(voxel_encoder)
        self.sparse_encoder = MODELS.build(sparse_encoder)
        self.voxels_key = voxels_key
        voxel_size = sparse_encoder['voxel_size']
        if abs(voxel_size[0] - voxel_size[1]) > 1e-9:
            raise ValueError(f'BEV cells must be square: voxel_size x and y differ ({voxel_size})')
        cell = float(voxel_size[0]) * self.sparse_encoder.stride
        if bev_cell is not None and abs(cell - bev_cell) > 1e-6:
            raise ValueError(f'bev_cell={bev_cell} but voxel_size[0] {voxel_size[0]} x stride '
                             f'{self.sparse_encoder.stride} gives {cell} m cells')
        self.bev_grid = BEVGrid.from_range(sparse_encoder['point_cloud_range'], cell)
        if self.bev_grid.shape != tuple(self.sparse_encoder.bev_shape):
            raise ValueError(f'sparse encoder output {self.sparse_encoder.bev_shape} does not '
                             f'match the BEV grid {self.bev_grid.shape}')
        self.motion_encoder = None
        if motion_encoder:
            motion = dict(point_cloud_range=sparse_encoder['point_cloud_range'], bev_cell=cell,
                          out_channels=self.sparse_encoder.out_channels)
            motion.update(motion_encoder)
            self.motion_encoder = MODELS.build(motion)
            if (tuple(self.motion_encoder.bev_shape) != self.bev_grid.shape or
                    self.motion_encoder.out_channels != self.sparse_encoder.out_channels):
                raise ValueError(
                    f'motion_encoder output ({self.motion_encoder.out_channels}, '
                    f'{self.motion_encoder.bev_shape}) must match the sparse encoder '
                    f'({self.sparse_encoder.out_channels}, {self.bev_grid.shape})')
        if motion_side and self.motion_encoder is None:
            raise ValueError('LidarBEVEncoder(motion_side=True) needs a motion_encoder '
                             "(e.g. dict(type='SweepOccupancyBEV', ...))")
        self.motion_side = bool(motion_side)
        self.transfer_report: TransferReport | None = None
        if init_sparse_encoder and init_sparse_encoder.get('checkpoint'):
            self.transfer_report = transfer_sparse_weights(self.sparse_encoder,
                                                           **init_sparse_encoder)

    @property
    def out_channels(self) -> int:
        return self.sparse_encoder.out_channels

    def forward(self, inputs: dict,
                data_samples: Sequence | None = None) -> Tensor | tuple[Tensor, dict]:
        if self.voxels_key not in inputs:
            raise KeyError(f"LidarBEVEncoder reads inputs['{self.voxels_key}'], which is missing "
                           f'(keys: {sorted(inputs)}); configure Det3DDataPreprocessor with a '
                           'voxelize_cfg and pack the point cloud in the pipeline')
        vox = inputs[self.voxels_key]
        batch_size = vox.get('batch_size')
        if batch_size is None:
            batch_size = len(data_samples) if data_samples is not None else \
                int(vox['coors'][:, 0].max()) + 1
        features = self.voxel_encoder(vox['voxels'], vox['num_points'])
        bev = self.sparse_encoder(features, vox['coors'], int(batch_size))
        if self.motion_encoder is not None:
            motion = self.motion_encoder(vox['voxels'], vox['num_points'], vox['coors'],
                                         int(batch_size))
            bev = bev + motion
            if self.motion_side:
                return bev, {'motion_bev': motion}
        return bev
