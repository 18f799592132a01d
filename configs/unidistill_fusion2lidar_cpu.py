# UniDistill, fusion -> LiDAR, sized for CPU on the synthetic nuScenes set.
# Teacher: the BEVFusion LiDAR + camera detector (configs/bevfusion_cpu.py), frozen, loaded once from teacher_ckpt.
# Student: the CenterPoint LiDAR detector (configs/centerpoint_lidar_cpu.py), trained with its own losses plus the three
# distillation losses on the BEV grid both share (128 x 128 at 0.8 m).
# Data: both modalities (configs/bevfusion_cpu.py's pipeline); schedule and runtime: that config's (cpu_short, 12 epochs).
#   python tools/train.py configs/bevfusion_cpu.py        # the teacher, first
#   python tools/train.py configs/unidistill_fusion2lidar_cpu.py
#   python tools/export_student.py configs/unidistill_fusion2lidar_cpu.py work_dirs/unidistill_fusion2lidar_cpu/epoch_N.pth
_base_ = ['./bevfusion_cpu.py']

student = '{{ fileDirname }}/centerpoint_lidar_cpu.py'
teacher = '{{ fileDirname }}/bevfusion_cpu.py'
teacher_ckpt = 'work_dirs/bevfusion_cpu'   # a checkpoint file, or a work dir (its latest)

# published fusion -> LiDAR weights (w_fea, w_rel, w_resp) = (10.0, 1.0, 10.0)
model = dict(
    _delete_=True,
    type='Distiller',
    student=student,
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    distill_losses=dict(
        loss_distill_fea=dict(type='FeatureDistillLoss', level='bev_low', weight=10.0),
        loss_distill_rel=dict(type='RelationDistillLoss', level='bev_high', weight=1.0),
        loss_distill_resp=dict(type='ResponseDistillLoss', level='responses', weight=10.0,
                               temperature=2.0)))
