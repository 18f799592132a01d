"""LiDAR encoder: voxel feature encoder + sparse 3D encoder -> BEV map (``bev_low``); the
MinkUNet sparse U-Net (per-voxel features)."""
from .bev_encoder import LidarBEVEncoder
from .minkunet import MinkUNet, ResidualBlock
from .motion import SweepOccupancyBEV
from .sparse_encoder import SparseBasicBlock, SparseEncoder
from .voxel_encoder import FeatureScaleMismatch, MeanVFE
from .weight_transfer import TransferReport, transfer_sparse_weights

__all__ = ['FeatureScaleMismatch', 'LidarBEVEncoder', 'MeanVFE', 'MinkUNet', 'ResidualBlock',
           'SparseBasicBlock', 'SparseEncoder', 'SweepOccupancyBEV', 'TransferReport',
           'transfer_sparse_weights']
