#!/usr/bin/env bash
# The X-Ray comparisons of docs/results.md on the synthetic demo set, run two at a time
# with one thread each (2-core machine). OCFs first, e.g. (skip-empty, whole track):
#   python tools/make_ocf.py data/nuscenes --out samples/LIDAR_TOP_OCF_skip \
#       --info-suffix _ocf_skip --skip-empty
# Usage: [EPOCHS=6] [OCF=_ocf_skip] [TEACHER_EPOCHS=12] bash benchmarks/xray_runs.sh SEED [variant ...]
#   teacher  the detector trained on OCFs (configs/xray_teacher_centerpoint_cpu.py, infos *$OCF.pkl)
#   alone    the same detector trained on raw frames (configs/centerpoint_lidar_cpu.py)
#   full     X-Ray student (configs/xray_distill_centerpoint_cpu.py) taught by
#            work_dirs/xr_teacher${OCF}_e${TEACHER_EPOCHS}_s0
#   fea resp only the feature / only the response term (the other weight 0)
#   rawteacher  control: the same distillation from the detector trained on RAW frames
#            (work_dirs/centerpoint_lidar_cpu, same 12-epoch schedule), which separates the
#            X-ray effect from distillation by a longer-trained teacher
# Work dirs: work_dirs/xr_<variant>[<OCF>]_e<EPOCHS>_s<SEED>. Then:
#   python benchmarks/collect_metrics.py work_dirs/xr_*
set -euo pipefail
SEED=${1:?seed}; shift
VARIANTS=${*:-alone full}
EPOCHS=${EPOCHS:-6}
OCF=${OCF:-_ocf_skip}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-12}
PY=${PY:-python}
sched="train_cfg.max_epochs=$EPOCHS train_cfg.val_interval=$EPOCHS param_scheduler.1.end=$EPOCHS param_scheduler.1.T_max=$((EPOCHS - 1)) randomness.seed=$SEED"
infos="train_dataloader.dataset.ann_file=nuscenes_infos_train$OCF.pkl"
val_infos="val_dataloader.dataset.ann_file=nuscenes_infos_val$OCF.pkl test_dataloader.dataset.ann_file=nuscenes_infos_val$OCF.pkl"
teacher="model.teacher_ckpt=work_dirs/xr_teacher${OCF}_e${TEACHER_EPOCHS}_s0"
run() {  # name config extra-options...
  local name=$1 config=$2; shift 2
  OMP_NUM_THREADS=1 $PY tools/train.py "$config" --work-dir "work_dirs/xr_${name}_e${EPOCHS}_s${SEED}" \
    --cfg-options $sched "$@" > "work_dirs/xr_${name}_e${EPOCHS}_s${SEED}.log" 2>&1
}
pids=()
for v in $VARIANTS; do
  case $v in
    teacher) run "teacher$OCF" configs/xray_teacher_centerpoint_cpu.py $infos $val_infos & ;;
    alone)   run alone configs/centerpoint_lidar_cpu.py & ;;
    full)    run "full$OCF" configs/xray_distill_centerpoint_cpu.py $infos $teacher & ;;
    fea)     run "fea$OCF" configs/xray_distill_centerpoint_cpu.py $infos $teacher model.distill_losses.loss_distill_resp.weight=0 & ;;
    resp)    run "resp$OCF" configs/xray_distill_centerpoint_cpu.py $infos $teacher model.distill_losses.loss_distill_fea.weight=0 & ;;
    rawteacher) run rawteacher configs/xray_distill_centerpoint_cpu.py $infos \
               model.teacher=configs/centerpoint_lidar_cpu.py model.teacher_ckpt=work_dirs/centerpoint_lidar_cpu \
               model.teacher_input=None "train_dataloader.dataset.pipeline.9.keys=[points,gt_bboxes_3d,gt_labels_3d]" & ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
