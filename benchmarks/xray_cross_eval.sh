#!/usr/bin/env bash
# docs/results.md, X-Ray (a): a detector trained on raw frames and one trained on OCFs,
# each evaluated on raw and on OCF inputs of the val split (official metric).
# Usage: [OCF=_ocf_skip] bash benchmarks/xray_cross_eval.sh RAW_WORK_DIR OCF_WORK_DIR
#   e.g. bash benchmarks/xray_cross_eval.sh work_dirs/centerpoint_lidar_cpu work_dirs/xr_teacher_ocf_skip_e12_s0
# Writes <work dir>/eval_{raw,ocf<OCF>}/metrics.json and prints one table.
set -euo pipefail
RAW=${1:?raw-frame work dir}; OCFDIR=${2:?OCF work dir}
OCF=${OCF:-_ocf_skip}
PY=${PY:-python}
ocf_val="test_dataloader.dataset.ann_file=nuscenes_infos_val$OCF.pkl"
latest() { cat "$1/last_checkpoint"; }
ev() {  # work_dir input
  local dir=$1 input=$2 out
  if [ "$input" = raw ]; then
    out="$dir/eval_raw"
    [ -f "$out/metrics.json" ] || OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $PY tools/test.py configs/centerpoint_lidar_cpu.py \
      "$(latest "$dir")" --work-dir "$out" --out-json "$out" > "$out.log" 2>&1
  else
    out="$dir/eval_ocf$OCF"
    [ -f "$out/metrics.json" ] || OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $PY tools/test.py configs/xray_teacher_centerpoint_cpu.py \
      "$(latest "$dir")" --work-dir "$out" --out-json "$out" --cfg-options "$ocf_val" > "$out.log" 2>&1
  fi
}
for d in "$RAW" "$OCFDIR"; do for i in raw ocf; do ev "$d" "$i"; done; done
$PY - "$RAW" "$OCFDIR" "$OCF" <<'PY'
import json, sys
raw, ocf, suffix = sys.argv[1:]
print('| trained on | evaluated on | mAP | NDS |\n|---|---|---|---|')
for name, d in (('raw frames', raw), (f'OCF ({suffix})', ocf)):
    for inp, sub in (('raw', 'eval_raw'), ('OCF', f'eval_ocf{suffix}')):
        m = json.load(open(f"{d}/{sub}/metrics.json"))["metrics"]
        key = lambda k: next(v for kk, v in m.items() if kk.endswith(k))
        print(f'| {name} | {inp} | {key("mAP"):.4f} | {key("NDS"):.4f} |')
PY
