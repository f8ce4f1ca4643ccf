#!/usr/bin/env bash
# oneflow-toy-v2's full recipe (training/configs/oneflow-toy-v2.json) on a CUDA device, in the calls
# of one device session:
#   training/device_v2.sh stage      here: the image bank as an .npz, the run's stages 1-2 (tokenizer.json,
#                                    autoencoder.pt: CPU-made, the same for every recipe of this world), and
#                                    a tokenizers wheel, into $STAGE (training/runs/device-v2-stage, 13 MB)
#   training/device_v2.sh run        on the device (carry $STAGE): trains stage 3 with --device cuda
#                                    (~4-8 min on one H100-class GPU by the v1 recipe's 3.8 min for the same
#                                    batches), then writes $OUT/oneflow-toy-v2-run/{ckpt.pt,train.log,...};
#                                    export, tuning and evaluation run back here on the CPU:
#                                      cp -r <files_at>/oneflow-toy-v2-run training/runs/oneflow-toy-v2
#                                      /usr/bin/python3 -m training.export_v2 --run training/runs/oneflow-toy-v2 --out models/oneflow-toy-v2
#                                      /usr/bin/python3 -m training.tune_sampler_v2 --model models/oneflow-toy-v2 --write
#                                      /usr/bin/python3 -m training.evaluate_v2 --model models/oneflow-toy-v2
#   training/device_v2.sh rehearse   here, on the CPU: stage, then run at a tiny size (STEPS=4 BATCH=16
#                                    DEVICE=cpu) and export the result to /tmp/oneflow-toy-v2-rehearsal
# Environment: PYTHON (python3: the one with torch), DEVICE (cuda), WORKERS (12), STEPS / BATCH (override
# the config), OUT ($STAGE/out), STAGE (training/runs/device-v2-stage).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
STAGE="${STAGE:-training/runs/device-v2-stage}"
CONFIG=training/configs/oneflow-toy-v2.json
RUN=training/runs/oneflow-toy-v2

stage() {
  local cpu_run=training/runs/oneflow-toy-v2-cpu
  mkdir -p "$STAGE"
  /usr/bin/python3 - "$STAGE/bank.npz" <<'EOF'
import sys, numpy as np
from training.data import load_images
b = load_images(0)
np.savez_compressed(sys.argv[1], train_x=b.train_x, train_y=b.train_y, test_x=b.test_x, test_y=b.test_y)
EOF
  if [ -f "$cpu_run/autoencoder.pt" ] && [ -f "$cpu_run/tokenizer.json" ]; then
    cp "$cpu_run/autoencoder.pt" "$cpu_run/tokenizer.json" "$STAGE/"
  else  # stages 1-2 of the full config (the same world section and seed: the same files)
    /usr/bin/python3 -c "from training.train_v2 import load_config, prepare; prepare(*load_config('$CONFIG', run_dir='$STAGE/prep'))"
    cp "$STAGE/prep/autoencoder.pt" "$STAGE/prep/tokenizer.json" "$STAGE/"
  fi
  # the device's Python may lack PyPI tokenizers (an abi3 wheel: any CPython >= 3.9 on x86-64 Linux)
  [ -n "$(ls "$STAGE"/tokenizers-*.whl 2>/dev/null)" ] || /usr/bin/python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 -d "$STAGE" "tokenizers==$(/usr/bin/python3 -c 'import tokenizers; print(tokenizers.__version__)')"
  (cd "$STAGE" && sha256sum bank.npz autoencoder.pt tokenizer.json tokenizers-*.whl > SHA256SUMS)
  du -sh "$STAGE"
}

run() {
  (cd "$STAGE" && sha256sum -c --quiet SHA256SUMS) || { echo "device_v2: $STAGE does not match its SHA256SUMS" >&2; exit 3; }
  if ! "$PY" -c "import tokenizers" 2>/dev/null; then  # unpack the staged wheel beside the code
    mkdir -p /tmp/device-v2-site && "$PY" -m zipfile -e "$STAGE"/tokenizers-*.whl /tmp/device-v2-site
    export PYTHONPATH="/tmp/device-v2-site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  local device="${DEVICE:-cuda}"
  "$PY" -c "import torch, tokenizers; assert '$device' != 'cuda' or torch.cuda.is_available(), 'no CUDA device'; print('device_v2: torch', torch.__version__, 'on', '$device')"
  mkdir -p "$RUN"
  cp "$STAGE/autoencoder.pt" "$STAGE/tokenizer.json" "$RUN/"
  export ONEFLOW_BANK_NPZ="$ROOT/$STAGE/bank.npz"
  local over=()
  [ -z "${STEPS:-}" ] || over+=(--steps "$STEPS")
  local config="$CONFIG"
  if [ -n "${BATCH:-}" ]; then  # a smaller batch for the rehearsal
    config=/tmp/device-v2-config.json
    "$PY" -c "import json; c = json.load(open('$CONFIG')); c['batch_size'] = int('$BATCH'); json.dump(c, open('$config', 'w'))"
  fi
  local t0=$SECONDS
  "$PY" -m training.train_v2 --config "$config" --run-dir "$RUN" --device "$device" --workers "${WORKERS:-12}" "${over[@]}"
  echo "device_v2: trained in $((SECONDS - t0)) s"
  local out="${OUT:-$STAGE/out}/oneflow-toy-v2-run"
  mkdir -p "$out"
  cp "$RUN"/{ckpt.pt,train.log,train_config.json,world_v2.json,autoencoder.pt,tokenizer.json} "$out/"
  ls -la "$out"
}

case "${1:-}" in
  stage) stage ;;
  run) run ;;
  rehearse)
    stage
    PY="${PYTHON:-/usr/bin/python3}" RUN=/tmp/oneflow-toy-v2-rehearsal-run DEVICE=cpu WORKERS="${WORKERS:-1}" STEPS="${STEPS:-4}" BATCH="${BATCH:-16}" \
      OUT=/tmp/oneflow-toy-v2-rehearsal-out run
    rm -rf /tmp/oneflow-toy-v2-rehearsal && /usr/bin/python3 -m training.export_v2 --no-golden \
      --run /tmp/oneflow-toy-v2-rehearsal-out/oneflow-toy-v2-run --out /tmp/oneflow-toy-v2-rehearsal
    /usr/bin/python3 -c "from training.contract import check_model_dir; check_model_dir('/tmp/oneflow-toy-v2-rehearsal'); print('device_v2: rehearsal model directory passes check_model_dir')" ;;
  *) echo "usage: training/device_v2.sh stage | run | rehearse" >&2; exit 2 ;;
esac
