# Semi-supervised X-Ray distillation, real nuScenes: the CenterPoint student learns
# its detection loss on the labelled scenes only and the distillation losses on all
# training scenes, from an OCF teacher that reads every sample's Object-Complete Frame.
# The OCFs of unlabelled scenes are built along tracks linked from the pseudo labels of
# a detector trained on the labelled part. Recipe (docs/ocf.md, "Semi-supervised"):
# 1. split the training scenes (labelled / unlabelled: labelled=False, no boxes)
#   python tools/split_infos.py data/nuscenes/nuscenes_infos_train.pkl \
#       --labelled-fraction 0.5 --seed 0
# 2. a detector on the labelled part, then its predictions on the unlabelled scenes
#   python tools/train.py configs/xray_semi_labelled_centerpoint.py
#   python tools/test.py configs/xray_semi_labelled_centerpoint.py \
#       work_dirs/xray_semi_labelled_centerpoint/epoch_20.pth --out-json work_dirs/xray_semi_pseudo
# 3. OCFs: labelled scenes (and val) from annotations, unlabelled ones from pseudo tracks
#   python tools/make_ocf.py data/nuscenes --version v1.0-trainval --workers 8 \
#       --out samples/LIDAR_TOP_OCF_SEMI --info-suffix _ocf_semi \
#       --pseudo-labels work_dirs/xray_semi_pseudo/results_nusc.json \
#       --infos data/nuscenes/nuscenes_infos_train_labelled.pkl \
#               data/nuscenes/nuscenes_infos_train_unlabelled.pkl \
#               data/nuscenes/nuscenes_infos_val.pkl
# 4. the OCF teacher on the labelled OCFs
#   python tools/train.py configs/xray_semi_teacher_centerpoint.py
# 5. the semi-supervised student (this config), then export it
#   python tools/train.py configs/xray_semi_distill_centerpoint.py
#   python tools/export_student.py configs/xray_semi_distill_centerpoint.py \
#       work_dirs/xray_semi_distill_centerpoint/epoch_20.pth
# Step 3 uses its own OCF folder and info suffix, so the supervised recipe's OCFs
# (samples/LIDAR_TOP_OCF, *_ocf.pkl) are untouched: it writes
# nuscenes_infos_{train_labelled,train_unlabelled,val}_ocf_semi.pkl.
_base_ = ['./xray_distill_centerpoint.py']

teacher = '{{ fileDirname }}/xray_semi_teacher_centerpoint.py'
teacher_ckpt = 'work_dirs/xray_semi_teacher_centerpoint'

# both parts of the training scenes, with their OCFs; unlabelled samples carry
# labelled=False and their pseudo boxes as gt (NuScenesDataset), packed into the metainfo
labelled_part = dict(_base_.train_dataloader.dataset,
                     ann_file='nuscenes_infos_train_labelled_ocf_semi.pkl')
unlabelled_part = dict(_base_.train_dataloader.dataset,
                       ann_file='nuscenes_infos_train_unlabelled_ocf_semi.pkl')
train_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=[labelled_part, unlabelled_part]))

model = dict(
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    semi_supervised=True)   # detection loss on labelled samples, distillation on all
