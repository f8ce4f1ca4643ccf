/**
 * Does the CUDA execution provider installed by `infra/dev/setup gpu` load on this host? Every
 * library it links or opens must resolve, except the NVIDIA driver's libcuda.so.1 on a host
 * without one; then a CUDA session on the tiny v2 model either runs (a GPU host) or fails with
 * the typed error naming the driver (a CPU host). Exit 1 when any other library is missing.
 *
 *   infra/dev/setup gpu && infra/dev/gpu-run node --import tsx bench/gpu/check-libs.ts [--out FILE]
 *
 * Not in the default test suite: the libraries are about 1.5 GB of wheels (docs/operations.md).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '@oneflow/devstack';
import {
  CUDA_DLOPENED_LIBRARIES,
  CUDA_PROVIDER_LIBRARIES,
  ExecutionProviderError,
  onnxRuntimeDir,
  unresolvedLibraries,
} from '@oneflow/runtime';
import { loadOnnxModel } from '@oneflow/runtime/onnx';
import { log, resultPath, writeReport } from '../report.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: resultPath('gpu-libs') } } });
const DRIVER = 'libcuda.so.1';
const ortDir = onnxRuntimeDir();
const gpuLib = process.env.ONEFLOW_GPU_LIB ?? path.join(REPO_ROOT, '.tools/gpu/lib');

// 1. the provider libraries beside onnxruntime-node's runtime, and every library they and the
//    CUDA runtime libraries link (ldd, with this process's LD_LIBRARY_PATH)
const providers = CUDA_PROVIDER_LIBRARIES.map((f) => ({ file: path.join(ortDir, f), present: existsSync(path.join(ortDir, f)) }));
const libs = existsSync(gpuLib) ? readdirSync(gpuLib).filter((f) => /\.so(\.\d+)*$/.test(f)) : [];
const checked = [...providers.filter((p) => p.present).map((p) => p.file), ...libs.map((f) => path.join(gpuLib, f))];
const unresolved: Record<string, string[]> = {};
for (const lib of checked) {
  const missing = unresolvedLibraries(lib, lib.endsWith('libonnxruntime_providers_cuda.so') ? CUDA_DLOPENED_LIBRARIES : []);
  if (missing === undefined) throw new Error(`ldd could not run on ${lib}`);
  if (missing.length > 0) unresolved[path.basename(lib)] = missing;
}
const beyondDriver = Object.entries(unresolved).flatMap(([lib, m]) => m.filter((x) => x !== DRIVER).map((x) => `${lib}: ${x}`));
const driverMissing = Object.values(unresolved).some((m) => m.includes(DRIVER));

// 2. a CUDA session on the tiny v2 model
const model = path.join(REPO_ROOT, 'packages/runtime/fixtures/tiny-v2/model.onnx');
let session: { ok: boolean; reason?: string; message?: string };
try {
  const m = await loadOnnxModel(model, { executionProvider: 'cuda' });
  await m.release();
  session = { ok: true };
} catch (e) {
  session = e instanceof ExecutionProviderError ? { ok: false, reason: e.reason, message: e.message } : { ok: false, message: String(e) };
}

const ok = providers.every((p) => p.present) && libs.length > 0 && beyondDriver.length === 0;
await writeReport(values.out, {
  question: 'does every library of the CUDA execution provider resolve (the driver aside)?',
  ok,
  ldLibraryPath: process.env.LD_LIBRARY_PATH ?? null,
  onnxRuntimeDir: path.relative(REPO_ROOT, ortDir),
  providers: providers.map((p) => ({ file: path.basename(p.file), present: p.present })),
  cudaLibraries: libs.length,
  librariesChecked: checked.length,
  unresolvedBeyondDriver: beyondDriver,
  driverMissing,
  cudaSession: session,
});
log(
  ok
    ? `ok: ${checked.length} libraries resolve${driverMissing ? ` except the driver's ${DRIVER}` : ''}; CUDA session: ${session.ok ? 'runs' : `${session.reason}: ${session.message}`}`
    : `NOT ok: ${providers.some((p) => !p.present) ? 'provider libraries missing (infra/dev/setup gpu); ' : ''}${beyondDriver.join(', ') || (libs.length === 0 ? `no libraries in ${gpuLib}` : '')}`,
);
process.exit(ok ? 0 : 1);
