# UniDistill, LiDAR -> camera, real nuScenes settings.
# Teacher: the CenterPoint LiDAR detector (configs/centerpoint_lidar.py), frozen, loaded once from teacher_ckpt.
# Student: the BEVDepth camera detector (configs/bevdepth_cam.py), trained with its own losses plus the three
# distillation losses on the BEV grid both share (180 x 180 at 0.6 m).
# A 1x1 conv adapter maps the student's low-level width (80 channels) to the teacher's (256).
# Adapters train with the student; tools/export_student.py drops them.
# Data: both modalities (configs/bevfusion.py's pipeline); schedule and runtime: that config's (AdamW, 20 epochs).
#   python tools/train.py configs/centerpoint_lidar.py        # the teacher, first
#   python tools/train.py configs/unidistill_lidar2cam.py
#   python tools/export_student.py configs/unidistill_lidar2cam.py work_dirs/unidistill_lidar2cam/epoch_N.pth
_base_ = ['./bevfusion.py']

student = '{{ fileDirname }}/bevdepth_cam.py'
teacher = '{{ fileDirname }}/centerpoint_lidar.py'
teacher_ckpt = 'work_dirs/centerpoint_lidar'   # a checkpoint file, or a work dir (its latest)

# published optimiser setting: AdamW, weight decay 1e-7 (lr from the schedule: 2e-4 at
# batch 32, as published for camera students)
optim_wrapper = dict(optimizer=dict(weight_decay=1e-7))

# published LiDAR -> camera weights (w_fea, w_rel, w_resp) = (100.0, 40.0, 10.0)
model = dict(
    _delete_=True,
    type='Distiller',
    student=student,
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    adapters=dict(low=dict(type='ConvAdapter', in_channels=80, out_channels=256, kernel_size=1)),
    distill_losses=dict(
        loss_distill_fea=dict(
            type='FeatureDistillLoss', level='bev_low', weight=100.0, adapter='low'
        ),
        loss_distill_rel=dict(type='RelationDistillLoss', level='bev_high', weight=40.0),
        loss_distill_resp=dict(
            type='ResponseDistillLoss', level='responses', weight=10.0, temperature=2.0
        ),
    ),
)
