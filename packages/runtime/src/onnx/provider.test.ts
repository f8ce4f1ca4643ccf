import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeModelDir } from '../formats.js';
import { ModelRunner } from '../runner.js';
import { CUDA_PROVIDER_LIBRARIES, ExecutionProviderError, diagnoseCuda, onnxRuntimeDir } from './quirks.js';
import { createSession } from './session.js';

const tinyV2 = new URL('../../fixtures/tiny-v2', import.meta.url).pathname;
const ortDir = onnxRuntimeDir();
const providerInstalled = CUDA_PROVIDER_LIBRARIES.every((f) => existsSync(join(ortDir, f)));
const gpuLib = new URL('../../../../.tools/gpu/lib', import.meta.url).pathname;

const savedEnv = { LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH, MODEL_CPU_FALLBACK: process.env.MODEL_CPU_FALLBACK };
const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'oneflow-ep-'));
  temps.push(d);
  return d;
}
afterEach(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('diagnoseCuda: the cause of a CUDA session that cannot start', () => {
  it('names the provider libraries when they are not beside libonnxruntime', () => {
    const dir = tempDir();
    const e = diagnoseCuda('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library', dir);
    expect(e).toBeInstanceOf(ExecutionProviderError);
    expect(e).toMatchObject({ name: 'ExecutionProviderError', provider: 'cuda', reason: 'provider-library-missing' });
    expect(e.missing).toEqual(['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so']);
    expect(e.message).toContain('infra/dev/setup gpu');
  });

  // stand-ins for the provider: a real shared library whose own dependencies all resolve
  // (libonnxruntime itself), so only the libraries the provider opens at run time are looked for
  function standIn(): string {
    const dir = tempDir();
    for (const f of CUDA_PROVIDER_LIBRARIES) copyFileSync(join(ortDir, 'libonnxruntime.so.1'), join(dir, f));
    return dir;
  }

  it('names cuDNN, which the provider opens at run time, when LD_LIBRARY_PATH lacks it', () => {
    process.env.LD_LIBRARY_PATH = tempDir();
    const e = diagnoseCuda('Failed to load shared library', standIn());
    expect(e).toMatchObject({ reason: 'cuda-library-missing', missing: ['libcudnn.so.9'] });
    expect(e.message).toContain('infra/dev/gpu-run');
  });

  it('tells a host without a GPU from an unknown provider failure once every library resolves', () => {
    const libs = tempDir();
    writeFileSync(join(libs, 'libcudnn.so.9'), '');
    process.env.LD_LIBRARY_PATH = libs;
    const dir = standIn();
    expect(diagnoseCuda('CUDA failure 100: no CUDA-capable device is detected ; GPU=0', dir)).toMatchObject({ reason: 'no-device' });
    expect(diagnoseCuda('something else broke', dir)).toMatchObject({
      reason: 'provider-failed',
      message: 'the CUDA execution provider failed: something else broke',
    });
  });

  it.skipIf(!providerInstalled || !existsSync(join(gpuLib, 'libcudnn.so.9')))(
    'with the real provider and .tools/gpu/lib on the path, only the driver is missing on a host without one',
    () => {
      process.env.LD_LIBRARY_PATH = gpuLib;
      const e = diagnoseCuda('Failed to load shared library');
      expect(e).toMatchObject({ reason: 'no-driver', missing: ['libcuda.so.1'] });
      process.env.LD_LIBRARY_PATH = tempDir();
      const without = diagnoseCuda('Failed to load shared library');
      expect(without.reason).toBe('cuda-library-missing');
      expect(without.missing).toEqual(expect.arrayContaining(['libcublas.so.13', 'libcudart.so.13', 'libcudnn.so.9']));
      expect(without.missing).not.toContain('libcuda.so.1');
    },
  );
});

describe('a CUDA model on this CPU-only host', () => {
  // what this process can see: no provider (CI), or the provider without LD_LIBRARY_PATH
  // (vitest is not started through infra/dev/gpu-run)
  const expected = providerInstalled ? 'cuda-library-missing' : 'provider-library-missing';

  it('fails at start-up with a typed error that names the cause, not a CPU session', async () => {
    delete process.env.MODEL_CPU_FALLBACK;
    const info = await describeModelDir(tinyV2);
    const started = ModelRunner.start(info, { executionProvider: 'cuda' });
    await expect(started).rejects.toBeInstanceOf(ExecutionProviderError);
    const e = (await started.catch((x: unknown) => x)) as ExecutionProviderError;
    expect(e.provider).toBe('cuda');
    expect(e.reason).toBe(expected);
    expect(e.message).toContain(`cannot create a cuda session for ${join(tinyV2, 'model.onnx')}`);
    expect(e.message).toContain(providerInstalled ? 'libcublas.so.13' : 'libonnxruntime_providers_cuda.so');
  });

  it('runs on the CPU only when the fallback is configured, and says so', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const path = join(tinyV2, 'model.onnx');
      const created = await createSession({ path, files: [], provider: 'cuda', intraOpThreads: 1, cpuFallback: true });
      expect(created.provider).toBe('cpu');
      await created.session.release();
      await new Promise((r) => setImmediate(r));
      expect(
        warnings.some(
          (w) =>
            w.includes('running on the CPU instead') &&
            w.includes(expected === 'provider-library-missing' ? 'not installed' : 'cannot load'),
        ),
      ).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
    // through the runner, configured by the environment the worker passes on
    process.env.MODEL_CPU_FALLBACK = '1';
    const info = await describeModelDir(tinyV2);
    const [gpu, cpu] = await Promise.all([ModelRunner.start(info, { executionProvider: 'cuda' }), ModelRunner.start(info)]);
    try {
      const rows = [{ spec: info.spec, tokens: [1, 40, 41, 2, 3], images: [{ latent: new Float32Array(64).fill(0.25), t: 0.5 }] }];
      const [a] = await gpu.forward(rows);
      const [b] = await cpu.forward(rows);
      expect(a!.piLogit).toEqual(b!.piLogit);
      expect(a!.velocity).toEqual(b!.velocity);
    } finally {
      await Promise.all([gpu.close(), cpu.close()]);
    }
  });
});
