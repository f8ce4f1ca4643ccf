import { guidedLogLambda, guidedVelocity, pick, tokenDistribution } from './guidance.js';
import { type Draws, SeededDraws } from './rng.js';
import {
  type ImageSlot,
  type SamplerParams,
  type SamplerState,
  latentSize,
  needsTextFree,
  promptImageCount,
  textFree,
  unconditional,
} from './state.js';

/**
 * Model outputs for ONE state (row b of a batch, unpadded), as in docs/model-contract.md.
 * `n` = number of tokens, `m` = number of images, `V` = vocabulary size, `[C, H, W]` = latent shape.
 */
export interface StateOutputs {
  /** float32 `[n]`: logit of π_i = P(nothing missing right of token i). */
  readonly piLogit: Float32Array;
  /** float32 `[n]`: log λ_i. */
  readonly logLambda: Float32Array;
  /** float32 `[n, V]` row-major: log Q_i(·). */
  readonly qLogprobs: Float32Array;
  /** float32 `[m, C, H, W]` row-major: velocity per image. */
  readonly velocity: Float32Array;
}

/**
 * Outputs for a state; for its `unconditional()` twin when text guidance is on (w ≠ 1); for its
 * `textFree()` twin when image guidance is on and an image is denoising (`needsTextFree`).
 */
export interface StepOutputs {
  readonly cond: StateOutputs;
  readonly uncond?: StateOutputs;
  readonly textFree?: StateOutputs;
}

/**
 * The rows one step of `s` needs the model to run, in order: `s`; its `unconditional()` twin when
 * text guidance is on; its `textFree()` twin when `needsTextFree(s)`. Batch them in one forward.
 */
export function guidanceRows(s: SamplerState): SamplerState[] {
  return [s, ...(s.params.guidance !== 1 ? [unconditional(s)] : []), ...(needsTextFree(s) ? [textFree(s)] : [])];
}

/** The outputs of `guidanceRows(s)`, in that order, as `step` takes them. */
export function stepOutputsOf(s: SamplerState, outs: readonly StateOutputs[]): StepOutputs {
  const text = s.params.guidance !== 1;
  const image = needsTextFree(s);
  const want = 1 + (text ? 1 : 0) + (image ? 1 : 0);
  if (outs.length !== want) throw new RangeError(`expected outputs for ${want} rows (guidanceRows), got ${outs.length}`);
  return { cond: outs[0]!, ...(text ? { uncond: outs[1]! } : {}), ...(image ? { textFree: outs[want - 1]! } : {}) };
}

function checkOutputs(name: string, o: StateOutputs, n: number, m: number, v: number, size: number): void {
  const want = [n, n, n * v, m * size];
  const got = [o.piLogit.length, o.logLambda.length, o.qLogprobs.length, o.velocity.length];
  if (want.some((x, i) => x !== got[i])) {
    throw new RangeError(
      `${name} outputs: expected lengths [pi ${want[0]}, logLambda ${want[1]}, q ${want[2]} = ${n}×${v}, velocity ${want[3]} = ${m}×${size}], got [${got.join(', ')}]`,
    );
  }
}

/**
 * One sampler step of size Δt = 1/steps (docs/algorithm.md §4; a port of training/sample.py `step`):
 * its steps 2–4 below; step 1, the forward, is the caller's (the rows of `guidanceRows`).
 * Returns a new state; `state` is unchanged.
 *
 * Random draws, in this order and only when insertion is open (t_text < 1 and not capped):
 *   1. for every insertable gap i = promptLen−1 .. n−1: three uniforms (u_pi, u_rate, u_tok);
 *   2. for every accepted `<image>` insertion, left to right: C·H·W standard normals (the latent).
 *
 * @param rng the draw stream; by default a seeded stream resumed from `state.rng`, whose new
 *   state is stored in the result (a stream without `snapshot` leaves `rng` as it was).
 */
export function step(
  state: SamplerState,
  outputs: StepOutputs,
  params: SamplerParams = state.params,
  rng: Draws = new SeededDraws(state.rng),
): SamplerState {
  const { spec } = state;
  const n = state.tokens.length;
  const m = state.images.length;
  const size = latentSize(spec);
  const dt = 1 / params.steps;
  const w = params.guidance;
  const { cond } = outputs;
  const uncond = w !== 1 ? outputs.uncond : undefined;
  if (w !== 1 && uncond === undefined) throw new Error(`guidance ${w} needs unconditional outputs`);
  const wi = params.imageGuidance;
  const free = needsTextFree(state, params) ? outputs.textFree : undefined;
  if (needsTextFree(state, params) && free === undefined) throw new Error(`image guidance ${wi} needs text-free outputs`);
  const k0 = promptImageCount(state);
  const off = state.promptLen - 2; // cond position i <-> uncond position i − off
  checkOutputs('conditional', cond, n, m, spec.vocabSize, size);
  if (uncond !== undefined) checkOutputs('unconditional', uncond, n - off, m - k0, spec.vocabSize, size);
  if (free !== undefined) checkOutputs('text-free', free, 2 + m - k0, m - k0, spec.vocabSize, size);

  // 2. Euler step for every image with t < 1, on its own clock, from the pre-insertion outputs
  const images: ImageSlot[] = state.images.map((im, j) => {
    if (im.t >= 1) return im;
    const h = Math.min(dt, 1 - im.t);
    const latent = new Float32Array(size);
    const vc = cond.velocity.subarray(j * size, (j + 1) * size);
    const vf = free?.velocity.subarray((j - k0) * size, (j - k0 + 1) * size);
    for (let e = 0; e < size; e++) latent[e] = im.latent[e]! + h * guidedVelocity(vc[e]!, vf?.[e], wi);
    return { latent, t: 1 - im.t <= dt ? 1 : im.t + dt };
  });

  if (state.tText >= 1) return { ...state, params, images, step: state.step + 1 };

  // 3. insertions: two gates per insertable gap, at most one token per gap, applied at once
  const h = Math.min(dt, 1 - state.tText);
  const inserts = new Map<number, number>(); // gap (token position) -> token id
  if (!state.capped) {
    const first = state.promptLen - 1;
    const gaps = n - first;
    const u = rng.uniforms(3 * gaps);
    let nImg = m;
    const room = params.maxLen - n;
    for (let g = 0; g < gaps; g++) {
      const i = first + g;
      const pGap = 1 / (1 + Math.exp(cond.piLogit[i]!)); // 1 − π_i
      const ll = guidedLogLambda(cond.logLambda[i]!, uncond?.logLambda[i - off], w);
      const pRate = Math.min(1, (h / (1 - state.tText)) * Math.exp(ll)); // κ̇/(1−κ) = 1/(1−t) for linear κ
      if (!(u[3 * g]! < pGap && u[3 * g + 1]! < pRate)) continue;
      const v = spec.vocabSize;
      const q = tokenDistribution(
        cond.qLogprobs.subarray(i * v, (i + 1) * v),
        uncond?.qLogprobs.subarray((i - off) * v, (i - off + 1) * v),
        w,
        params.temperature,
        params.topK,
        spec.neverInsert,
      );
      const tok = pick(q, u[3 * g + 2]!);
      if (inserts.size >= room) continue; // length cap reached within this step
      if (tok === spec.image) {
        if (nImg >= params.maxImages) continue;
        nImg++;
      }
      inserts.set(i, tok);
    }
  }
  const tokens: number[] = [];
  const merged: ImageSlot[] = [];
  let next = 0;
  for (let i = 0; i < n; i++) {
    const t = state.tokens[i]!;
    tokens.push(t);
    if (t === spec.image) merged.push(images[next++]!);
    const ins = inserts.get(i);
    if (ins !== undefined) {
      tokens.push(ins);
      if (ins === spec.image) merged.push({ latent: rng.normals(size), t: 0 });
    }
  }
  const capped = tokens.length >= params.maxLen;
  return {
    ...state,
    params,
    rng: rng.snapshot?.() ?? state.rng,
    tokens,
    images: merged,
    // 4. the length cap closes the text clock; images still finish their flow
    tText: capped || 1 - state.tText <= dt ? 1 : state.tText + dt,
    capped: state.capped || capped,
    step: state.step + 1,
  };
}
