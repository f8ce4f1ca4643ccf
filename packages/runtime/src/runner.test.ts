import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initState, runGeneration, textFree } from '@oneflow/sampler';
import { fixturesDir } from '@oneflow/sampler/testing';
import { describeModelDir } from './formats.js';
import type { ModelInfo } from './model.js';
import { pack } from './oneflow-io.js';
import { loadOnnxModel } from './onnx/direct.js';
import { ModelRunner } from './runner.js';

let model: ModelInfo;
let runner: ModelRunner;

beforeAll(async () => {
  model = await describeModelDir(fixturesDir + 'tiny-model');
  runner = await ModelRunner.start(model, { threads: 1, maxBatch: 8, maxWaitMs: 2 });
});
afterAll(() => runner.close());

function prompt(text: string, seed: number, steps = 12) {
  const tok = model.tokenizer;
  // text guidance on, image guidance off: exactly two rows (cond, uncond) per step
  return initState(tok.prompt(text), { ...model.defaults, steps, guidance: 2, imageGuidance: 1 }, model.spec, seed);
}

describe('ModelRunner (worker threads + micro-batcher)', () => {
  it('runs two generations concurrently while a main-thread timer keeps firing', async () => {
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const before = { ...runner.stats };
    const [a, b] = await Promise.all([runGeneration(runner, prompt('draw a seven', 1)), runGeneration(runner, prompt('draw a nine', 2))]);
    clearInterval(timer);
    expect(a.timings.steps).toBeGreaterThanOrEqual(12);
    expect(b.timings.steps).toBeGreaterThanOrEqual(12);
    // rows of the same padded shape (both generations, cond and uncond) shared forward passes
    const batches = runner.stats.batches - before.batches;
    expect(batches).toBeLessThan(2 * (a.timings.steps + b.timings.steps));
    expect(runner.stats.rows - before.rows).toBeGreaterThanOrEqual(2 * (a.timings.steps + b.timings.steps));
    // the event loop stayed responsive: timer fired throughout, never stalled for long
    expect(ticks).toBeGreaterThan(10);
    expect(maxGap).toBeLessThan(250);
  });

  it('keeps the event loop free during a long forward pass, where an in-thread session starves it', async () => {
    const base = prompt('count from two to five', 1);
    const big = {
      ...base,
      tokens: [...base.tokens, ...Array<number>(30).fill(model.spec.image)],
      images: Array.from({ length: 30 }, () => ({ latent: new Float32Array(784), t: 0.5 })),
    };
    const rows = Array.from({ length: 8 }, () => big);
    const ticksDuring = async (f: () => Promise<unknown>) => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      await f();
      clearInterval(timer);
      return ticks;
    };
    const inThread = await loadOnnxModel(model.graphs.model.path);
    const starved = await ticksDuring(() => inThread.run(pack(rows)));
    await inThread.release();
    const free = await ticksDuring(() => runner.forward(rows));
    expect(starved).toBeLessThanOrEqual(2); // the control: this is what the runner must avoid
    expect(free).toBeGreaterThanOrEqual(10);
  });

  it('gives the same result alone and batched with other generations', async () => {
    const alone = await runGeneration(runner, prompt('count from two to five', 5));
    const [together] = await Promise.all([
      runGeneration(runner, prompt('count from two to five', 5)),
      runGeneration(runner, prompt('draw a nine', 6)),
      runGeneration(runner, prompt('what is this ?', 7)),
    ]);
    expect(together.state.tokens).toEqual(alone.state.tokens);
    expect(together.state.images).toEqual(alone.state.images);
    expect(together.state.rng).toEqual(alone.state.rng);
  });

  it('refuses a model whose bytes do not match config.json', async () => {
    const path = model.graphs.model.path;
    const bad = { ...model, graphs: { model: { path, files: [{ path, sha256: '0'.repeat(64), field: 'onnx_sha256' }] } } };
    await expect(ModelRunner.start(bad)).rejects.toThrow(/model.onnx: SHA-256 [0-9a-f]{64} does not match config.json onnx_sha256 0{64}/);
  });

  it('asks for the twins the guidance needs: text-free only while an image is denoising', async () => {
    const base = prompt('draw a seven', 1);
    const withImage = (t: number) => ({
      ...base,
      params: { ...base.params, guidance: 1, imageGuidance: 2 },
      tokens: [...base.tokens, model.spec.image],
      images: [{ latent: new Float32Array(784).fill(0.1), t }],
    });
    const live = await runner.stepOutputs(withImage(0.5));
    expect(live.uncond).toBeUndefined();
    expect(live.textFree?.velocity).toHaveLength(784);
    expect(live.textFree?.piLogit).toHaveLength(3); // <bos> <sep> <image>
    const [direct] = await runner.forward([textFree(withImage(0.5))]);
    expect(Array.from(live.textFree!.velocity)).toEqual(Array.from(direct!.velocity));
    const done = await runner.stepOutputs(withImage(1));
    expect(done.textFree).toBeUndefined();
    const both = await runner.stepOutputs({ ...withImage(0.5), params: { ...base.params, guidance: 2, imageGuidance: 2 } });
    expect(both.uncond?.piLogit).toHaveLength(base.tokens.length - base.promptLen + 3);
    expect(both.textFree).toBeDefined();
  });

  it('refuses a state made for another model', async () => {
    const s = prompt('draw a seven', 1);
    await expect(runner.stepOutputs({ ...s, spec: { ...s.spec, sha256: 'f'.repeat(64) } })).rejects.toThrow(
      /made for model tiny-model \(ffffffffffff\), this runner serves tiny-model/,
    );
  });

  it('reports a failing forward pass to its caller and keeps serving', async () => {
    const s = prompt('draw a seven', 1);
    await expect(runner.forward([{ ...s, tokens: [...s.tokens, 9999] }])).rejects.toThrow(/model run failed/);
    const [ok] = await runner.forward([s]);
    expect(ok?.piLogit.length).toBe(s.tokens.length);
  });
});
