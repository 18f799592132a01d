# X-Ray distillation, real nuScenes: the CenterPoint student on raw frames learns
# from the same detector trained on Object-Complete Frames (configs/xray_teacher_centerpoint.py),
# which reads the OCF of the same sample under the same BEV augmentation
# (teacher_input: the teacher's `points` are the batch's `ocf_points`). Default losses: BEV
# feature (low level, key points) and response distillation of the UniDistill spec.
#   python tools/make_ocf.py /data/nuscenes --version v1.0-trainval --skip-empty
#   python tools/train.py configs/xray_teacher_centerpoint.py    # the teacher, first
#   python tools/train.py configs/xray_distill_centerpoint.py
#   python tools/export_student.py configs/xray_distill_centerpoint.py \
#       work_dirs/xray_distill_centerpoint/epoch_20.pth
_base_ = ['./centerpoint_lidar.py']

from perception_kd.utils.config_helpers import adapt_pipeline

student = '{{ fileDirname }}/centerpoint_lidar.py'
teacher = '{{ fileDirname }}/xray_teacher_centerpoint.py'
teacher_ckpt = 'work_dirs/xray_teacher_centerpoint'

# training reads the raw keyframe (points) and its OCF (ocf_points); evaluation raw only
train_pipeline = adapt_pipeline(
    _base_.train_pipeline,
    insert_after=dict(LoadPointsFromFile=dict(type='LoadOCFPoints', load_dim=5, use_dim=5)),
    Pack3DDetInputs=dict(keys=['points', 'ocf_points', 'gt_bboxes_3d', 'gt_labels_3d']))
train_dataloader = dict(
    dataset=dict(ann_file='nuscenes_infos_train_ocf.pkl', pipeline=train_pipeline)
)

model = dict(
    _delete_=True,
    type='Distiller',
    student=student,
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    teacher_input=dict(points='ocf_points'),
    distill_losses=dict(
        loss_distill_fea=dict(type='FeatureDistillLoss', level='bev_low', weight=10.0),
        loss_distill_resp=dict(type='ResponseDistillLoss', level='responses', weight=10.0,
                               temperature=2.0)))
