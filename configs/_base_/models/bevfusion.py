# BEVFusion-style LiDAR + camera detector: the LiDAR CenterPoint encoder
# (centerpoint_lidar.py) and the BEVDepth camera encoder (bevdepth_cam_encoder.py) on one
# BEV grid (180 x 180 at 0.6 m), fused by concatenation + SE channel attention + conv to
# the LiDAR width, then the LiDAR model's BEV backbone, neck and CenterHead unchanged.
_base_ = ['./centerpoint_lidar.py', './bevdepth_cam_encoder.py']

model = dict(
    camera_encoder=_base_.camera_encoder,
    # BEVDetector passes [lidar BEV, camera BEV]; out = the LiDAR width (backbone input)
    fuser=dict(type='ChannelAttentionFuser', in_channels=[256, 80], out_channels=256))
