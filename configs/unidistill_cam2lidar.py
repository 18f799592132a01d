# UniDistill, camera -> LiDAR, real nuScenes settings.
# Teacher: the BEVDepth camera detector (configs/bevdepth_cam.py), frozen.
# Student: the CenterPoint LiDAR detector (configs/centerpoint_lidar.py);
# BEV grid 180 x 180 at 0.6 m.
# The teacher is the weaker model here, so (as the paper) a one-layer 3x3 conv adapter sits on
# the student's low- and high-level maps before the feature and relation losses.
# Adapters train with the student; tools/export_student.py drops them.
#   python tools/train.py configs/bevdepth_cam.py        # the teacher, first
#   python tools/train.py configs/unidistill_cam2lidar.py
#   python tools/export_student.py configs/unidistill_cam2lidar.py \
#       work_dirs/unidistill_cam2lidar/epoch_N.pth
_base_ = ['./_base_/distill/unidistill.py']

# published camera -> LiDAR weights (w_fea, w_rel, w_resp) = (10.0, 5.0, 1.0)
model = dict(
    student='{{ fileDirname }}/centerpoint_lidar.py',
    teacher='{{ fileDirname }}/bevdepth_cam.py',
    teacher_ckpt='work_dirs/bevdepth_cam',   # a checkpoint file, or a work dir (its latest)
    adapters=dict(
        low=dict(type='ConvAdapter', in_channels=256, out_channels=80, kernel_size=3),
        high=dict(type='ConvAdapter', in_channels=512, out_channels=512, kernel_size=3)),
    distill_losses=dict(
        loss_distill_fea=dict(weight=10.0, adapter='low'),
        loss_distill_rel=dict(weight=5.0, adapter='high'),
        loss_distill_resp=dict(weight=1.0)))
