# Semi-supervised X-Ray, real nuScenes, steps 1-2: CenterPoint (configs/centerpoint_lidar.py)
# trained on the labelled scenes only (tools/split_infos.py), then run on the unlabelled
# scenes to write their pseudo labels: `tools/test.py` with this config predicts on
# nuscenes_infos_train_unlabelled.pkl and only writes the results JSON (no metric). It is
# also the baseline the semi-supervised student must beat (evaluate it on val with
# tools/test.py configs/centerpoint_lidar.py CKPT). Whole recipe:
# configs/xray_semi_distill_centerpoint.py and docs/ocf.md, "Semi-supervised".
#   python tools/split_infos.py data/nuscenes/nuscenes_infos_train.pkl \
#       --labelled-fraction 0.5 --seed 0
#   python tools/train.py configs/xray_semi_labelled_centerpoint.py
#   python tools/test.py configs/xray_semi_labelled_centerpoint.py \
#       work_dirs/xray_semi_labelled_centerpoint/epoch_20.pth --out-json work_dirs/xray_semi_pseudo
_base_ = ['./centerpoint_lidar.py']

train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_labelled.pkl'))
# "test" = predict the unlabelled training scenes: format only (every sample of the info file)
test_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_unlabelled.pkl'))
test_evaluator = dict(ann_file='nuscenes_infos_train_unlabelled.pkl', format_only=True)
