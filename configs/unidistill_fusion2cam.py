# UniDistill, fusion -> camera, real nuScenes settings.
# Teacher: the BEVFusion LiDAR + camera detector (configs/bevfusion.py), frozen, loaded once from teacher_ckpt.
# Student: the BEVDepth camera detector (configs/bevdepth_cam.py), trained with its own losses plus the three
# distillation losses on the BEV grid both share (180 x 180 at 0.6 m).
# A 1x1 conv adapter maps the student's low-level width (80 channels) to the teacher's (256).
# Adapters train with the student; tools/export_student.py drops them.
# Data: both modalities (configs/bevfusion.py's pipeline); schedule and runtime: that config's (AdamW, 20 epochs).
#   python tools/train.py configs/bevfusion.py        # the teacher, first
#   python tools/train.py configs/unidistill_fusion2cam.py
#   python tools/export_student.py configs/unidistill_fusion2cam.py work_dirs/unidistill_fusion2cam/epoch_N.pth
_base_ = ['./bevfusion.py']

student = '{{ fileDirname }}/bevdepth_cam.py'
teacher = '{{ fileDirname }}/bevfusion.py'
teacher_ckpt = 'work_dirs/bevfusion'   # a checkpoint file, or a work dir (its latest)

# published optimiser setting: AdamW, weight decay 1e-7 (lr from the schedule: 2e-4 at
# batch 32, as published for camera students)
optim_wrapper = dict(optimizer=dict(weight_decay=1e-7))

# published fusion -> camera weights (w_fea, w_rel, w_resp) = (10.0, 5.0, 10.0)
model = dict(
    _delete_=True,
    type='Distiller',
    student=student,
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    adapters=dict(low=dict(type='ConvAdapter', in_channels=80, out_channels=256, kernel_size=1)),
    distill_losses=dict(
        loss_distill_fea=dict(
            type='FeatureDistillLoss', level='bev_low', weight=10.0, adapter='low'
        ),
        loss_distill_rel=dict(type='RelationDistillLoss', level='bev_high', weight=5.0),
        loss_distill_resp=dict(
            type='ResponseDistillLoss', level='responses', weight=10.0, temperature=2.0
        ),
    ),
)
