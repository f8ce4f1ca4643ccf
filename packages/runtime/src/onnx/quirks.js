// Execution-provider specifics, in one place. Plain JavaScript: the session worker thread imports it
// under any loader (tsx, Vitest, plain node) without a TypeScript hook.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Providers a model may ask for in its config (`execution_provider`). */
export const PROVIDERS = ['cpu', 'cuda'];

/**
 * ONNX Runtime session options for one provider. A CUDA session is created with the CUDA provider
 * only: ONNX Runtime would otherwise place unsupported nodes (or everything, when the provider
 * cannot load) on the CPU without saying so.
 * @param {'cpu'|'cuda'} provider
 * @param {number} intraOpThreads
 */
export function sessionOptions(provider, intraOpThreads) {
  if (!PROVIDERS.includes(provider))
    throw new Error(`unknown execution provider ${JSON.stringify(provider)}; known: ${PROVIDERS.join(', ')}`);
  const base = { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  if (provider === 'cuda') return { ...base, executionProviders: [{ name: 'cuda', deviceId: 0 }] };
  return { ...base, executionProviders: ['cpu'] };
}

/**
 * The rows to send for a batch so that every row takes the kernel path it takes in any other
 * batch of its shape: ONNX Runtime's CPU convolutions take another path when exactly one image
 * goes through them (B·M = 1), which changes the last bits, so such a row is sent twice (the
 * second copy's outputs are dropped).
 * @template T
 * @param {readonly T[]} rows
 * @param {number} paddedImages image slots per row in the padded batch (M)
 * @param {number} realImages image slots of the single row
 * @returns {T[]}
 */
export function kernelPathRows(rows, paddedImages, realImages) {
  return rows.length === 1 && paddedImages === 1 && realImages === 1 ? [rows[0], rows[0]] : [...rows];
}

/**
 * A tensor to feed a session. onnxruntime-common wraps float16 data in a Float16Array where the
 * JavaScript engine has one (Node ≥ 24), which onnxruntime-node 1.30's native binding reads as
 * empty ("not enough space: expected N, got 0"); the binding is given the same bytes as the
 * Uint16Array it reads on engines without Float16Array.
 * @param {new (type: string, data: unknown, dims: readonly number[]) => { data: ArrayBufferView, cpuData?: unknown }} Tensor
 * @param {string} type
 * @param {ArrayBufferView} data
 * @param {readonly number[]} dims
 */
export function feedTensor(Tensor, type, data, dims) {
  const tensor = new Tensor(type, data, dims);
  if (type === 'float16' && !(tensor.data instanceof Uint16Array)) {
    tensor.cpuData = new Uint16Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength / 2);
  }
  return tensor;
}

/**
 * A session that cannot run on the execution provider it was asked for. Never followed by a
 * silent CPU session: the CPU is used instead only where it was configured (`cpuFallback`,
 * `MODEL_CPU_FALLBACK=1`). `reason` is the cause found:
 *   provider-library-missing  libonnxruntime_providers_{shared,cuda}.so are not beside libonnxruntime.so.1
 *   cuda-library-missing      the CUDA / cuDNN runtime libraries (`missing`) do not resolve
 *   no-driver                 libcuda.so.1, the NVIDIA driver's library, is not on this host
 *   no-device                 the driver is there but reports no usable GPU
 *   provider-failed           anything else (onnxruntime's own message)
 */
export class ExecutionProviderError extends Error {
  /**
   * @param {{ provider: string, reason: string, missing?: string[], detail: string }} info
   */
  constructor({ provider, reason, missing = [], detail }) {
    super(detail);
    this.name = 'ExecutionProviderError';
    this.provider = provider;
    this.reason = reason;
    this.missing = missing;
  }
}

/** The CUDA provider library and the one it loads first, beside onnxruntime's own (where onnxruntime looks for them). */
export const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
/** Libraries the CUDA provider opens at run time rather than linking (so `ldd` does not list them). */
export const CUDA_DLOPENED_LIBRARIES = ['libcudnn.so.9'];
const DRIVER_LIBRARY = 'libcuda.so.1';

/** The directory of onnxruntime-node's native runtime (libonnxruntime.so.1) on this platform. */
export function onnxRuntimeDir() {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Which libraries `lib` needs that the dynamic loader cannot find with this process's
 * environment (`ldd`), plus those of `dlopened` found neither on LD_LIBRARY_PATH nor in the
 * loader cache. undefined when `ldd` cannot run.
 * @param {string} lib
 * @param {readonly string[]} dlopened
 * @returns {string[] | undefined}
 */
export function unresolvedLibraries(lib, dlopened = []) {
  let out;
  try {
    out = execFileSync('ldd', [lib], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // ldd exits non-zero when a dependency is missing on some systems; its stdout still lists them
    if (e && typeof e === 'object' && 'stdout' in e && typeof e.stdout === 'string' && e.stdout) out = e.stdout;
    else return undefined;
  }
  const missing = [...out.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]);
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  let cache = '';
  try {
    cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    cache = '';
  }
  for (const name of dlopened) {
    const found = dirs.some((d) => existsSync(join(d, name))) || cache.includes(`${name} `);
    if (!found) missing.push(name);
  }
  return missing;
}

/**
 * Why a CUDA session could not be created: an {@link ExecutionProviderError} naming the cause.
 * onnxruntime itself says only "Failed to load shared library" (the details go to stderr), so the
 * provider's libraries are checked here, in the order the loader needs them.
 * @param {string} ortMessage onnxruntime's error
 * @param {string} [ortDir] where libonnxruntime.so.1 is (default: onnxruntime-node's)
 */
export function diagnoseCuda(ortMessage, ortDir = onnxRuntimeDir()) {
  const fail = (reason, detail, missing = []) => new ExecutionProviderError({ provider: 'cuda', reason, missing, detail });
  const absent = CUDA_PROVIDER_LIBRARIES.filter((f) => !existsSync(join(ortDir, f)));
  if (absent.length > 0) {
    return fail(
      'provider-library-missing',
      `the CUDA execution provider is not installed: ${absent.join(', ')} not in ${ortDir} (infra/dev/setup gpu puts them there)`,
      absent,
    );
  }
  const missing = unresolvedLibraries(join(ortDir, 'libonnxruntime_providers_cuda.so'), CUDA_DLOPENED_LIBRARIES);
  if (missing !== undefined) {
    const runtime = missing.filter((m) => m !== DRIVER_LIBRARY);
    if (runtime.length > 0) {
      return fail(
        'cuda-library-missing',
        `the CUDA provider cannot load: ${runtime.join(', ')} not found on LD_LIBRARY_PATH (${process.env.LD_LIBRARY_PATH || 'unset'}); start the process through infra/dev/gpu-run, which puts .tools/gpu/lib there (infra/dev/setup gpu installs it)`,
        runtime,
      );
    }
    if (missing.includes(DRIVER_LIBRARY)) {
      return fail(
        'no-driver',
        `no NVIDIA driver on this host: ${DRIVER_LIBRARY} not found (a GPU host's driver provides it; in a container, the NVIDIA container runtime mounts it)`,
        [DRIVER_LIBRARY],
      );
    }
  }
  if (/no CUDA-capable device|cudaErrorNoDevice|CUDA driver version is insufficient|cudaErrorInsufficientDriver/i.test(ortMessage)) {
    return fail('no-device', `the NVIDIA driver reports no usable GPU: ${ortMessage}`);
  }
  return fail('provider-failed', `the CUDA execution provider failed: ${ortMessage}`);
}
