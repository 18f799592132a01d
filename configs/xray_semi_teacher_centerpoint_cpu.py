# Semi-supervised X-Ray, CPU / synthetic, step 4: the OCF teacher
# (configs/xray_teacher_centerpoint_cpu.py) trained on the OCFs of the labelled scenes
# with their ground truth; validated on the val OCFs (both from step 3 of the recipe).
# Whole recipe: configs/xray_semi_distill_centerpoint_cpu.py and docs/ocf.md, "Semi-supervised".
#   python tools/train.py configs/xray_semi_teacher_centerpoint_cpu.py
_base_ = ['./xray_teacher_centerpoint_cpu.py']

train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_labelled_ocf_semi.pkl'))
val_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_val_ocf_semi.pkl'))
test_dataloader = val_dataloader
