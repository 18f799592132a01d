"""Camera BEV encoder parts: ResNet backbone, image FPN, LSS depth view transform."""
from .bev_pool import bev_pool, frustum_cells
from .depth_loss import depth_bce_loss, depth_bin_targets
from .depth_net import DepthNet
from .encoder import CameraBEVEncoder
from .geometry import CameraGeometry, build_frustum, lift_to_lidar, num_depth_bins, project_to_image
from .neck import ImageFPN
from .resnet import ResNet
from .view_transform import DepthLSSTransform

__all__ = [
    'bev_pool', 'frustum_cells', 'depth_bce_loss', 'depth_bin_targets', 'DepthNet',
    'CameraBEVEncoder', 'CameraGeometry', 'build_frustum', 'lift_to_lidar', 'num_depth_bins',
    'project_to_image', 'ImageFPN', 'ResNet', 'DepthLSSTransform'
]
