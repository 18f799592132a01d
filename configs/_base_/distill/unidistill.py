# UniDistill (BEV cross-modality distillation), real nuScenes settings: what the four
# directions share. Data: both modalities (configs/bevfusion.py's pipeline); schedule and
# runtime: that config's (AdamW, 20 epochs). Model: a Distiller whose student trains with its
# own losses plus three distillation losses on the BEV grid both detectors share (feature at
# bev_low, relation at bev_high, response at the heads' outputs).
# A direction config sets only: model.student, model.teacher, model.teacher_ckpt, the three
# loss weights, and adapters where the two widths differ (configs/unidistill_*.py).
_base_ = ['../../bevfusion.py']

# published optimiser setting: AdamW, weight decay 1e-7 (lr from the schedule: 2e-4 at
# batch 32, as published for camera students)
optim_wrapper = dict(optimizer=dict(weight_decay=1e-7))

model = dict(
    _delete_=True,
    type='Distiller',
    student=None,        # a detector config file
    teacher=None,        # a detector config file
    teacher_ckpt=None,   # a checkpoint file, or a work dir (its latest)
    distill_losses=dict(
        loss_distill_fea=dict(type='FeatureDistillLoss', level='bev_low', weight=None),
        loss_distill_rel=dict(type='RelationDistillLoss', level='bev_high', weight=None),
        loss_distill_resp=dict(type='ResponseDistillLoss', level='responses', weight=None,
                               temperature=2.0)))
