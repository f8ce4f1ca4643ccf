#!/usr/bin/env bash
# The device check, in the calls one device session makes back to back (the machine stays warm
# 30 s between calls, and what a call writes under /tmp stays while it is warm):
#   bench/gpu/device.sh receive N     carry .gpu-stage/cuda.part-0N (+ SHA256SUMS): keeps the piece in /tmp
#   bench/gpu/device.sh run           carry .gpu-stage/{app,node}.tar.xz + SHA256SUMS: checks and unpacks
#                                     everything, writes the scale models (training.scale_model, the
#                                     machine's own torch), runs bench/gpu/bench.ts and writes $OUT/gpu.json
#   bench/gpu/device.sh rehearse      here, on the CPU: every piece of .gpu-stage, then `run` with
#                                     PROVIDER=cpu SIZES=test (bench/gpu/stage.sh first)
# Environment: PYTHON (python3: the one with torch), PROVIDER (cuda), SIZES ("toy 100m 1b"), DTYPES ("float32 float16"), BATCHES, OUT.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
W="${ONEFLOW_GPU_WORK:-/tmp/oneflow-gpu}"
S=.gpu-stage
mkdir -p "$W"
check() { (cd "$1" && grep -E " ($2)\$" "$ROOT/$S/SHA256SUMS" | sha256sum -c --quiet -) || { echo "device: $2 does not match SHA256SUMS" >&2; exit 3; }; }

receive() {
  local part="cuda.part-$(printf '%02d' "$1")"
  cp "$S/$part" "$W/$part"
  check "$W" "$part"
  echo "device: $part kept in $W ($(ls "$W"/cuda.part-* | wc -l) pieces)"
}

run() {
  local provider="${PROVIDER:-cuda}" sizes="${SIZES:-toy 100m 1b}" dtypes="${DTYPES:-float32 float16}"
  check "$S" 'app.tar.xz|node.tar.xz'
  rm -rf "$W/app" "$W/node" && tar -C "$W" -xJf "$S/app.tar.xz" && mkdir -p "$W/node" && tar -C "$W/node" -xJf "$S/node.tar.xz"
  local ortbin="$W/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  if ls "$W"/cuda.part-* >/dev/null 2>&1; then
    check "$W" "$(cd "$S" && grep -o 'cuda.part-[0-9]*' SHA256SUMS | paste -sd'|')"
    cat "$W"/cuda.part-* | zstd -q -d | tar -C "$ortbin" -xf -
  fi
  # the CUDA 13 / cuDNN 9 libraries of the machine's Python (NVIDIA's cu13 wheels beside torch)
  local libs
  libs="$("${PYTHON:-python3}" -c "import pathlib, nvidia; print(':'.join(sorted({str(p.parent) for d in nvidia.__path__ for p in pathlib.Path(d).glob('**/lib/lib*.so*')})))" 2>/dev/null || true)"
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  [ "$provider" != cuda ] || ldd "$ortbin/libonnxruntime_providers_cuda.so" | grep 'not found' || echo "device: every library of the CUDA provider resolves"
  # the models, written in parallel by the machine's torch
  local dirs=() pids=()
  for size in $sizes; do for dtype in $dtypes; do
    local d="$W/models/$size-$dtype"; dirs+=("$d")
    [ -f "$d/config.json" ] || { OMP_NUM_THREADS=2 "${PYTHON:-python3}" -m training.scale_model --size "$size" --dtype "$dtype" --out "$d" > "$W/export-$size-$dtype.log" 2>&1 & pids+=($!); }
  done; done
  for p in "${pids[@]}"; do wait "$p" || { tail -5 "$W"/export-*.log >&2; exit 4; }; done
  local out="${OUT:-$W/out}"; mkdir -p "$out"
  "$W/node/node" "$W/app/bench.mjs" --provider "$provider" --models "$(IFS=,; echo "${dirs[*]}")" \
    --golden packages/runtime/fixtures/tiny-v2 --batches "${BATCHES:-1,2,4,8,16}" --out "$out/gpu.json"
}

case "${1:-}" in
  receive) receive "$2" ;;
  run) run ;;
  rehearse)
    for p in "$S"/cuda.part-*; do [ -e "$p" ] && receive "${p##*-}"; done
    PROVIDER=cpu SIZES="${SIZES:-test}" BATCHES="${BATCHES:-1,2}" run ;;
  *) echo "usage: bench/gpu/device.sh receive N | run | rehearse" >&2; exit 2 ;;
esac
