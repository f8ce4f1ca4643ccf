/**
 * Parity with the shipped model's golden vectors (docs/model-contract.md, "Golden vectors"):
 * models/oneflow-toy-v1/golden/{forward,steps,trajectory}.json, written by the Python reference.
 * Skipped (and reported as skipped) until those files exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type ModelSpec,
  type SamplerParams,
  type SamplerState,
  type StateOutputs,
  RecordedDraws,
  isDone,
  rngStateFromSeed,
  step,
} from '@oneflow/sampler';
import { describeModelDir } from './formats.js';
import { loadOnnxModel, type NamedTensor } from './onnx/direct.js';
import { ModelRunner } from './runner.js';

const dir = fileURLToPath(new URL('../../../models/oneflow-toy-v1/', import.meta.url));
const golden = dir + 'golden/';
const has = (f: string) => existsSync(golden + f) && existsSync(dir + 'config.json');

interface JArray {
  dtype: string;
  shape: number[];
  data: number[];
}
interface JState {
  tokens: number[];
  prompt_len: number;
  t_text: number;
  capped: boolean;
  images: { t: number; latent: number[] }[];
}
type JOutputs = Record<'pi_logit' | 'log_lambda' | 'q_logprobs' | 'velocity', number[]>;
type JParams = { steps: number; w: number; w_image?: number; temperature: number; top_k: number; max_len: number; max_images: number };

const read = <T>(f: string) => JSON.parse(readFileSync(golden + f, 'utf8')) as T;
const params = (p: JParams): SamplerParams => ({
  steps: p.steps,
  guidance: p.w,
  imageGuidance: p.w_image ?? 1,
  temperature: p.temperature,
  topK: p.top_k,
  maxLen: p.max_len,
  maxImages: p.max_images,
});
const state = (s: JState, spec: ModelSpec, prm: SamplerParams): SamplerState => ({
  spec,
  params: prm,
  seed: 0,
  rng: rngStateFromSeed(0),
  tokens: s.tokens,
  promptLen: s.prompt_len,
  images: s.images.map((im) => ({ t: im.t, latent: Float32Array.from(im.latent) })),
  tText: s.t_text,
  capped: s.capped,
  step: 0,
});
const outputs = (o: JOutputs): StateOutputs => ({
  piLogit: Float32Array.from(o.pi_logit),
  logLambda: Float32Array.from(o.log_lambda),
  qLogprobs: Float32Array.from(o.q_logprobs),
  velocity: Float32Array.from(o.velocity),
});
const plain = (s: SamplerState) => ({
  tokens: [...s.tokens],
  prompt_len: s.promptLen,
  t_text: s.tText,
  capped: s.capped,
  images: s.images.map((im) => ({ t: im.t, latent: Array.from(im.latent) })),
});
const plainJ = (s: JState) => ({ ...s, images: s.images.map((im) => ({ t: im.t, latent: Array.from(Float32Array.from(im.latent)) })) });

function tensor(a: JArray): NamedTensor {
  if (/int64|i64/.test(a.dtype)) return { type: 'int64', data: BigInt64Array.from(a.data, (x) => BigInt(x)), dims: a.shape };
  if (/bool/.test(a.dtype)) return { type: 'bool', data: Uint8Array.from(a.data, (x) => (x ? 1 : 0)), dims: a.shape };
  return { type: 'float32', data: Float32Array.from(a.data), dims: a.shape };
}

describe.skipIf(!has('forward.json'))('golden forward (shipped model): onnxruntime-node within 1e-4 where masks are true', () => {
  it('matches', async () => {
    const m = await describeModelDir(dir);
    const onnx = await loadOnnxModel(m.graphs.model.path);
    const g = read<{ model_sha256: string; inputs: Record<string, JArray>; outputs: Record<string, JArray> }>('forward.json');
    expect(g.model_sha256, 'forward.json was made with another model.onnx').toBe(m.config['onnx_sha256']);
    const out = await onnx.run(Object.fromEntries(Object.entries(g.inputs).map(([k, a]) => [k, tensor(a)])));
    await onnx.release();
    const tmask = g.inputs.token_mask!.data;
    const imask = g.inputs.image_mask!.data;
    for (const [name, want] of Object.entries(g.outputs)) {
      const got = out[name]!;
      expect(got.dims, name).toEqual(want.shape);
      const [B = 0, L = 0] = want.shape;
      const per = want.data.length / (B * (name === 'velocity' ? imask.length / B : L));
      let d = 0;
      want.data.forEach((x, i) => {
        const pos = Math.floor(i / per); // flat index over [B, L] or [B, M]
        if (!(name === 'velocity' ? imask[pos] : tmask[pos])) return;
        d = Math.max(d, Math.abs(x - got.data[i]!));
      });
      expect(d, name).toBeLessThan(1e-4);
    }
  });
});

describe.skipIf(!has('steps.json'))('golden steps (shipped model): fixed state + outputs + draws → next state, exactly', async () => {
  const m = has('steps.json') ? await describeModelDir(dir) : undefined;
  const g = has('steps.json')
    ? read<{
        cases: {
          name: string;
          params: JParams;
          state: JState;
          outputs_cond: JOutputs;
          outputs_uncond: JOutputs | null;
          outputs_text_free?: JOutputs | null;
          draws: { uniforms: number[]; normals: number[] };
          expected: JState;
        }[];
      }>('steps.json')
    : { cases: [] };
  for (const c of g.cases) {
    it(c.name, () => {
      const prm = params(c.params);
      const draws = new RecordedDraws(c.draws.uniforms, c.draws.normals);
      const out = {
        cond: outputs(c.outputs_cond),
        ...(c.outputs_uncond ? { uncond: outputs(c.outputs_uncond) } : {}),
        ...(c.outputs_text_free ? { textFree: outputs(c.outputs_text_free) } : {}),
      };
      const next = step(state(c.state, m!.spec, prm), out, prm, draws);
      expect(draws.used).toEqual([c.draws.uniforms.length, c.draws.normals.length]);
      expect(plain(next)).toEqual(plainJ(c.expected));
    });
  }
});

describe.skipIf(!has('trajectory.json'))('golden trajectory (shipped model, in the loop, through the worker-thread runner)', () => {
  it('reproduces the tokens exactly and the latents within the tolerance', async () => {
    const m = await describeModelDir(dir);
    const g = read<{
      model_sha256: string;
      params: JParams;
      initial: JState;
      draws: { uniforms: number[]; normals: number[] };
      steps_taken: number;
      final_tokens: number[];
      final_latents: number[][];
      latent_tolerance: number;
    }>('trajectory.json');
    expect(g.model_sha256, 'trajectory.json was made with another model.onnx').toBe(m.config['onnx_sha256']);
    const prm = params(g.params);
    let s = state(g.initial, m.spec, prm);
    const draws = new RecordedDraws(g.draws.uniforms, g.draws.normals);
    const runner = await ModelRunner.start(m);
    let n = 0;
    try {
      while (!isDone(s)) {
        s = step(s, await runner.stepOutputs(s), prm, draws);
        n++;
      }
    } finally {
      await runner.close();
    }
    expect(s.tokens).toEqual(g.final_tokens);
    expect(n).toBe(g.steps_taken);
    expect(draws.used).toEqual([g.draws.uniforms.length, g.draws.normals.length]);
    let d = 0;
    s.images.forEach((im, j) => im.latent.forEach((x, e) => (d = Math.max(d, Math.abs(x - g.final_latents[j]![e]!)))));
    expect(d).toBeLessThanOrEqual(g.latent_tolerance);
  });
});
