# UniDistill sized for CPU on the synthetic nuScenes set (make demo): what the four CPU
# directions share. Data: both modalities (configs/bevfusion_cpu.py's pipeline: 3 LiDAR
# frames + 6 images at 128x352); schedule and runtime: that config's (cpu_short, 12 epochs).
# The model is the Distiller of ./unidistill.py (the same three losses); a direction config
# sets only the student, teacher, teacher_ckpt, the three weights and any adapters.
_base_ = ['../../bevfusion_cpu.py']

# (mmengine forbids two bases defining `model`, so the skeleton is restated here; keep it
# equal to ./unidistill.py's)
model = dict(
    _delete_=True,
    type='Distiller',
    student=None,
    teacher=None,
    teacher_ckpt=None,
    distill_losses=dict(
        loss_distill_fea=dict(type='FeatureDistillLoss', level='bev_low', weight=None),
        loss_distill_rel=dict(type='RelationDistillLoss', level='bev_high', weight=None),
        loss_distill_resp=dict(type='ResponseDistillLoss', level='responses', weight=None,
                               temperature=2.0)))
