# BEVDepth-style camera-only detector as a perception_kd BEVDetector: the camera encoder of
# bevdepth_cam_encoder.py + the BEV backbone, neck and CenterHead of the LiDAR CenterPoint
# model (centerpoint_lidar.py), so camera and LiDAR detectors share the BEV grid
# (180 x 180 at 0.6 m) at every feature level. No voxelization: the LiDAR points only
# supervise the depth.
_base_ = ['./centerpoint_lidar.py', './bevdepth_cam_encoder.py']

model = dict(
    data_preprocessor=dict(voxelize_cfg=None),
    lidar_encoder=None,
    camera_encoder=_base_.camera_encoder,
    bev_backbone=dict(in_channels=80))  # = camera_encoder.view_transform.out_channels
