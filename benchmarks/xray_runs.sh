#!/usr/bin/env bash
# The X-Ray comparisons of docs/results.md on the synthetic demo set, through
# tools/compare.py: the raw-frame LiDAR detector alone vs the X-Ray student, the cpu_short
# schedule cut to EPOCHS, PROCS runs at a time with THREADS threads each (2-core machine:
# 2 x 1), the paired table with its 95 % t-interval at the end. OCFs first, e.g.
# (skip-empty, whole track):
#   python tools/make_ocf.py data/nuscenes --out samples/LIDAR_TOP_OCF_skip \
#       --info-suffix _ocf_skip --skip-empty
# Usage: [EPOCHS=6] [SEEDS="0 1 2"] [OCF=_ocf_skip] [TEACHER_EPOCHS=12] [PROCS=2] [THREADS=1]
#        [WORK=work_dirs/cmp_e$EPOCHS] bash benchmarks/xray_runs.sh COMPARISON [...]
#   teacher  not a comparison: trains the detector on OCFs
#            (configs/xray_teacher_centerpoint_cpu.py, infos *$OCF.pkl) for EPOCHS epochs,
#            seed SEED (default 0), into work_dirs/xr_teacher${OCF}_e${EPOCHS}_s${SEED}
#   full     LiDAR alone (arm lidar: configs/centerpoint_lidar_cpu.py on raw frames) vs the
#            X-Ray student (arm full$OCF: configs/xray_distill_centerpoint_cpu.py) taught by
#            work_dirs/xr_teacher${OCF}_e${TEACHER_EPOCHS}_s0
#   fea resp LiDAR alone vs only the feature / only the response term (the other weight 0)
#   rawteacher  LiDAR alone vs the same distillation from the detector trained on RAW
#            frames (work_dirs/centerpoint_lidar_cpu, same 12-epoch schedule), which
#            separates the X-ray effect from distillation by a longer-trained teacher
#   (default: full)
# Runs: $WORK/<arm>/seed<k> (resumable; the lidar arm is shared with
# benchmarks/unidistill_runs.sh f2l). Tables: $WORK/compare_<A>_vs_<B>.{md,json,png}.
set -euo pipefail
case ${1:-} in [0-9]*) echo "xray_runs.sh: the arguments are comparisons now (teacher full fea resp rawteacher); pick seeds with SEEDS=\"$1\"" >&2; exit 2 ;; esac
COMPARISONS=${*:-full}
EPOCHS=${EPOCHS:-6}
SEEDS=${SEEDS:-0 1 2}
SEED=${SEED:-0}
OCF=${OCF:-_ocf_skip}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-12}
PROCS=${PROCS:-2}
THREADS=${THREADS:-1}
WORK=${WORK:-work_dirs/cmp_e$EPOCHS}
PY=${PY:-python}
LIDAR=configs/centerpoint_lidar_cpu.py
XR=configs/xray_distill_centerpoint_cpu.py
infos="train_dataloader.dataset.ann_file=nuscenes_infos_train$OCF.pkl"
val_infos="val_dataloader.dataset.ann_file=nuscenes_infos_val$OCF.pkl test_dataloader.dataset.ann_file=nuscenes_infos_val$OCF.pkl"
teacher="model.teacher_ckpt=work_dirs/xr_teacher${OCF}_e${TEACHER_EPOCHS}_s0"
compare() {  # name-b [--b-options ...]
  local nb=$1; shift
  # shellcheck disable=SC2086
  $PY tools/compare.py $LIDAR $XR --names lidar "$nb" --work-dir "$WORK" --seeds $SEEDS \
    --epochs "$EPOCHS" --procs "$PROCS" --threads "$THREADS" "$@" ${EXTRA:-} || failed=1
}  # a failed run: go on with the next comparison, exit 1 at the end
failed=0
for c in $COMPARISONS; do
  case $c in
    teacher)
      sched="train_cfg.max_epochs=$EPOCHS train_cfg.val_interval=$EPOCHS param_scheduler.1.end=$EPOCHS param_scheduler.1.T_max=$((EPOCHS - 1))"
      out=work_dirs/xr_teacher${OCF}_e${EPOCHS}_s${SEED}
      mkdir -p work_dirs
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=$THREADS $PY tools/train.py configs/xray_teacher_centerpoint_cpu.py \
        --work-dir "$out" --seed "$SEED" --cfg-options $sched $infos $val_infos > "$out.log" 2>&1 ;;
    full) compare "full$OCF" --b-options $infos $teacher ;;
    fea)  compare "fea$OCF" --b-options $infos $teacher model.distill_losses.loss_distill_resp.weight=0 ;;
    resp) compare "resp$OCF" --b-options $infos $teacher model.distill_losses.loss_distill_fea.weight=0 ;;
    rawteacher) compare rawteacher --b-options $infos model.teacher=$LIDAR \
                  model.teacher_ckpt=work_dirs/centerpoint_lidar_cpu model.teacher_input=None \
                  "train_dataloader.dataset.pipeline.9.keys=[points,gt_bboxes_3d,gt_labels_3d]" ;;
    *) echo "xray_runs.sh: unknown comparison $c (teacher full fea resp rawteacher)" >&2; exit 2 ;;
  esac
done
exit $failed
