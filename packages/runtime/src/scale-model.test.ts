// The scale model (training/scale_model.py) at its test size, exported by Python here, loads through
// describeModelDir + ModelRunner.start and runs forward passes at its real shapes: 512 text
// positions and 16×32×32 latents (256 image tokens), in float32 and float16.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateOutputs } from '@oneflow/sampler';
import { describeModelDir } from './formats.js';
import { ModelRunner } from './runner.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;
let root: string;

beforeAll(() => {
  if (!hasTorch) return;
  root = mkdtempSync(join(tmpdir(), 'oneflow-scale-'));
  for (const dtype of ['float32', 'float16']) {
    const r = spawnSync(PYTHON, ['-m', 'training.scale_model', '--size', 'test', '--dtype', dtype, '--out', join(root, dtype)], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    if (r.status !== 0) throw new Error(`training.scale_model failed: ${r.stderr}`);
  }
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!hasTorch)('the scale model, test size', () => {
  async function forward(dtype: 'float32' | 'float16'): Promise<{ outs: StateOutputs[]; tokens: number }> {
    const info = await describeModelDir(join(root, dtype));
    expect(info).toMatchObject({ dtype, latentShape: [16, 32, 32], imageShape: [3, 256, 256] });
    expect(info.graphs.model.files.map((f) => f.field)).toEqual(['onnx_sha256', 'onnx_external_data.0.sha256']);
    const runner = await ModelRunner.start(info);
    try {
      // a full-length row with one half-denoised image, and a short one: one padded batch
      const latent = Float32Array.from({ length: 16 * 32 * 32 }, (_, i) => Math.sin(i));
      const long = [1, ...Array.from({ length: 501 }, (_, i) => 4 + (i % 300)), 2, 3, ...Array<number>(8).fill(50)];
      const rows = [
        { spec: info.spec, tokens: long, images: [{ latent, t: 0.5 }] },
        { spec: info.spec, tokens: [1, 40, 2, 3], images: [{ latent, t: 0.25 }] },
      ];
      return { outs: await runner.forward(rows), tokens: long.length };
    } finally {
      await runner.close();
    }
  }

  it('runs a forward pass at 512 tokens and 256 image tokens in float32 and float16', async () => {
    const f32 = await forward('float32');
    const f16 = await forward('float16');
    expect(f32.tokens).toBe(512);
    for (const { outs } of [f32, f16]) {
      expect(outs.map((o) => o.piLogit.length)).toEqual([512, 4]);
      expect(outs.map((o) => o.qLogprobs.length)).toEqual([512 * 320, 4 * 320]);
      expect(outs.map((o) => o.velocity.length)).toEqual([16 * 32 * 32, 16 * 32 * 32]);
      for (const o of outs) expect(o.velocity.every(Number.isFinite) && o.qLogprobs.every(Number.isFinite)).toBe(true);
    }
    // float16 weights and arithmetic stay close to float32
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
    expect(maxDiff(f32.outs[0]!.velocity, f16.outs[0]!.velocity)).toBeLessThan(0.05);
    expect(maxDiff(f32.outs[1]!.piLogit, f16.outs[1]!.piLogit)).toBeLessThan(0.05);
  });
});
