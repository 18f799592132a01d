# UniDistill, camera -> LiDAR, real nuScenes settings.
# Teacher: the BEVDepth camera detector (configs/bevdepth_cam.py), frozen, loaded once from teacher_ckpt.
# Student: the CenterPoint LiDAR detector (configs/centerpoint_lidar.py), trained with its own losses plus the three
# distillation losses on the BEV grid both share (180 x 180 at 0.6 m).
# The teacher is the weaker model here, so (as the paper) a one-layer 3x3 conv adapter sits on
# the student's low- and high-level maps before the feature and relation losses.
# Adapters train with the student; tools/export_student.py drops them.
# Data: both modalities (configs/bevfusion.py's pipeline); schedule and runtime: that config's (AdamW, 20 epochs).
#   python tools/train.py configs/bevdepth_cam.py        # the teacher, first
#   python tools/train.py configs/unidistill_cam2lidar.py
#   python tools/export_student.py configs/unidistill_cam2lidar.py work_dirs/unidistill_cam2lidar/epoch_N.pth
_base_ = ['./bevfusion.py']

student = '{{ fileDirname }}/centerpoint_lidar.py'
teacher = '{{ fileDirname }}/bevdepth_cam.py'
teacher_ckpt = 'work_dirs/bevdepth_cam'   # a checkpoint file, or a work dir (its latest)

# published optimiser setting: AdamW, weight decay 1e-7 (lr from the schedule: 2e-4 at
# batch 32, as published for camera students)
optim_wrapper = dict(optimizer=dict(weight_decay=1e-7))

# published camera -> LiDAR weights (w_fea, w_rel, w_resp) = (10.0, 5.0, 1.0)
model = dict(
    _delete_=True,
    type='Distiller',
    student=student,
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    adapters=dict(
        low=dict(type='ConvAdapter', in_channels=256, out_channels=80, kernel_size=3),
        high=dict(type='ConvAdapter', in_channels=512, out_channels=512, kernel_size=3),
    ),
    distill_losses=dict(
        loss_distill_fea=dict(
            type='FeatureDistillLoss', level='bev_low', weight=10.0, adapter='low'
        ),
        loss_distill_rel=dict(
            type='RelationDistillLoss', level='bev_high', weight=5.0, adapter='high'
        ),
        loss_distill_resp=dict(
            type='ResponseDistillLoss', level='responses', weight=1.0, temperature=2.0
        ),
    ),
)
