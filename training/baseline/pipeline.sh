#!/usr/bin/env bash
# The comparison end to end for one profile (configs/<run>-<profile>.json):
#   bash training/baseline/pipeline.sh <profile> <device> [train|evaluate|all]
# train:    OneFlow and the AR baseline side by side (2 processes), then the sequential ablation;
#           each resumes from its checkpoint, so a stopped pipeline loses nothing
# evaluate: sampler settings tuned on validation prompts (each model's last budget), every kept
#           budget on the held-out set, OneFlow's caption-steps curve, then the report
# Every step is skipped when its output exists. Env: BASELINE_N (held-out prompts per task, 100),
# BASELINE_TUNE_N (validation prompts per task and setting, 30), BASELINE_TEMPERATURES / BASELINE_W_IMAGE
# (the tuning grid, 0.3,1.0 / 1,3,6), BASELINE_STEPS (override the
# steps of every run: a rehearsal), BASELINE_RUNS / BASELINE_RESULTS / BASELINE_REPORT (where runs,
# evaluator outputs and the report go; default training/runs/baseline-<profile>,
# training/baseline/results/<profile>, training/baseline/README.md), BASELINE_WORKERS (batch-preparing
# processes per run, 0).
set -euo pipefail
profile=${1:?profile}
device=${2:-cpu}
stage=${3:-all}
cd "$(dirname "$0")/../.."
runs=${BASELINE_RUNS:-training/runs/baseline-$profile}
results=${BASELINE_RESULTS:-training/baseline/results/$profile}
report=${BASELINE_REPORT:-training/baseline/README.md}
n=${BASELINE_N:-100}
tune_n=${BASELINE_TUNE_N:-30}
jobs=${BASELINE_JOBS:-2}
py=(nice -n 10 env OMP_NUM_THREADS=1 /usr/bin/python3)
mkdir -p "$runs" "$results"

maybe_bg() {  # run in the background when more than one process may run at once
  if (( jobs > 1 )); then "$@" & else "$@"; fi
}

train_run() {  # <run>: resumable; BASELINE_STEPS shrinks it (keeps every budget below it)
  local cfg=training/baseline/configs/$1-$profile.json extra=()
  if [[ -n ${BASELINE_STEPS:-} ]]; then
    extra=(--steps "$BASELINE_STEPS" --keep-steps "$((BASELINE_STEPS / 2)),$BASELINE_STEPS")
  fi
  "${py[@]}" -m training.baseline.train --config "$cfg" --run-dir "$runs/$1" --device "$device" "${extra[@]}" \
    --workers "${BASELINE_WORKERS:-0}" > "$runs/$1.out" 2>&1
  echo "trained $1: $(tail -n 1 "$runs/$1/train.log")"
}

evaluate_run() {  # <run> <tuning file>: every kept budget on the held-out set
  local run=$1 settings=$2
  for ck in "$runs/$run"/ckpt-*.pt; do
    [[ -e $ck ]] || continue
    local step=${ck##*/ckpt-}; step=${step%.pt}
    local out=$results/$run/eval-$step.json
    [[ -e $out ]] && continue
    "${py[@]}" -m training.baseline.evaluate --ckpt "$ck" --settings "$settings" --n "$n" --device "$device" --out "$out"
  done
}

last_ckpt() {  # the highest kept budget of a run
  ls "$runs/$1"/ckpt-*.pt | sed 's/.*ckpt-\([0-9]*\)\.pt/\1 &/' | sort -n | tail -n 1 | cut -d' ' -f2
}

if [[ $stage == train || $stage == all ]]; then
  maybe_bg train_run oneflow
  maybe_bg train_run ar
  wait
  train_run oneflow-sequential
fi

if [[ $stage == evaluate || $stage == all ]]; then
  report_args=(--collect "$runs" --profile "$profile" --results "$(dirname "$results")" --out "$report")
  /usr/bin/python3 -m training.baseline.report "${report_args[@]}" > /dev/null
  "${py[@]}" -c "from training.evaluate import get_classifier; get_classifier(0)"  # the judge, trained once (cached)
  for run in oneflow ar; do  # 1. settings on validation prompts, one per model, on its last budget
    [[ -e $results/$run/tuning.json ]] || maybe_bg "${py[@]}" -m training.baseline.evaluate --tune \
      --ckpt "$(last_ckpt $run)" --n "$tune_n" --temperature "${BASELINE_TEMPERATURES:-0.3,1.0}" \
      --w-image "${BASELINE_W_IMAGE:-1,3,6}" --device "$device" --out "$results/$run/tuning.json"
  done
  wait
  # the ablation uses OneFlow's settings (same sampler, clocks held until the text ends)
  mkdir -p "$results/oneflow-sequential"
  # 2. every budget on the held-out set (OneFlow and the ablation in one process, the baseline in the other)
  oneflow_side() {
    evaluate_run oneflow "$results/oneflow/tuning.json"
    if [[ -d $runs/oneflow-sequential ]]; then evaluate_run oneflow-sequential "$results/oneflow/tuning.json"; fi
  }
  maybe_bg oneflow_side
  maybe_bg evaluate_run ar "$results/ar/tuning.json"
  wait
  # 3. OneFlow's captioning vs its sampling steps, on its last budget
  [[ -e $results/oneflow/caption-steps.json ]] || "${py[@]}" -m training.baseline.evaluate \
    --caption-steps 2,4,6,8,16,32 --ckpt "$(last_ckpt oneflow)" --settings "$results/oneflow/tuning.json" \
    --n "$n" --device "$device" --out "$results/oneflow/caption-steps.json"
  /usr/bin/python3 -m training.baseline.report "${report_args[@]}"
fi
