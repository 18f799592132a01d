"""LiDAR encoder: voxel feature encoder + sparse 3D encoder -> BEV map (``bev_low``)."""
from .bev_encoder import LidarBEVEncoder
from .sparse_encoder import SparseBasicBlock, SparseEncoder
from .voxel_encoder import MeanVFE

__all__ = ['LidarBEVEncoder', 'MeanVFE', 'SparseBasicBlock', 'SparseEncoder']
