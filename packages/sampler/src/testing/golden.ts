import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RecordedDraws, rngStateFromSeed } from '../rng.js';
import { step } from '../step.js';
import type { ModelSpec, SamplerParams, SamplerState } from '../state.js';
import type { StateOutputs } from '../step.js';

/** Test helpers for golden vectors written by the Python reference (fixtures/make_golden.py). */

export interface GoldenArray {
  dtype: 'f32' | 'f64' | 'i64' | 'bool';
  shape: number[];
  b64: string;
}
interface GoldenState {
  tokens: number[];
  prompt_len: number;
  t_text: number;
  capped: boolean;
  images: { t: number; latent: GoldenArray }[];
}
interface GoldenOutputs {
  pi_logit: GoldenArray;
  log_lambda: GoldenArray;
  q_logprobs: GoldenArray;
  velocity: GoldenArray;
}
interface GoldenParams {
  steps: number;
  w: number;
  /** Absent in vectors made before image guidance existed: 1. */
  w_image?: number;
  temperature: number;
  top_k: number;
  max_len: number;
  max_images: number;
}
export interface GoldenFile {
  model: {
    name: string;
    onnx_sha256: string;
    vocab: string[];
    special_tokens: { pad: number; bos: number; sep: number; image: number };
    never_insert: number[];
    latent_shape: [number, number, number];
  };
  forward: { inputs: Record<string, GoldenArray>; outputs: Record<string, GoldenArray> }[];
  steps: {
    name: string;
    params: GoldenParams;
    before: GoldenState;
    cond: GoldenOutputs;
    uncond: GoldenOutputs | null;
    text_free?: GoldenOutputs | null;
    uniforms: GoldenArray;
    normals: GoldenArray;
    after: GoldenState;
  }[];
  run: { params: GoldenParams; initial: GoldenState; uniforms: GoldenArray; normals: GoldenArray; final: GoldenState };
}

export const fixturesDir = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function loadGolden(name = 'golden-tiny.json'): GoldenFile {
  return loadGoldenFile(fixturesDir + name);
}

/** A golden file anywhere (e.g. a contract-v2 fixture's `golden.json`). */
export function loadGoldenFile<T extends GoldenFile = GoldenFile>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function bytes(a: GoldenArray): ArrayBuffer {
  const buf = Buffer.from(a.b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}
export const f32 = (a: GoldenArray) => new Float32Array(bytes(a));
export const f64 = (a: GoldenArray) => new Float64Array(bytes(a));

/** A golden array as a typed tensor (the runtime's named-tensor shape). */
export type GoldenTensor =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] }
  | { type: 'bool'; data: Uint8Array; dims: readonly number[] };

export function tensor(a: GoldenArray): GoldenTensor {
  if (a.dtype === 'i64') return { type: 'int64', data: new BigInt64Array(bytes(a)), dims: a.shape };
  if (a.dtype === 'bool') return { type: 'bool', data: new Uint8Array(bytes(a)), dims: a.shape };
  return { type: 'float32', data: f32(a), dims: a.shape };
}

export function specOf(g: GoldenFile): ModelSpec {
  const m = g.model;
  return {
    name: m.name,
    sha256: m.onnx_sha256,
    vocabSize: m.vocab.length,
    bos: m.special_tokens.bos,
    sep: m.special_tokens.sep,
    image: m.special_tokens.image,
    neverInsert: m.never_insert,
    latentShape: m.latent_shape,
  };
}

export function paramsOf(p: GoldenParams): SamplerParams {
  return {
    steps: p.steps,
    guidance: p.w,
    imageGuidance: p.w_image ?? 1,
    temperature: p.temperature,
    topK: p.top_k,
    maxLen: p.max_len,
    maxImages: p.max_images,
  };
}

export function stateOf(g: GoldenState, spec: ModelSpec, params: SamplerParams): SamplerState {
  return {
    spec,
    params,
    seed: 0,
    rng: rngStateFromSeed(0),
    tokens: g.tokens,
    promptLen: g.prompt_len,
    images: g.images.map((im) => ({ t: im.t, latent: f32(im.latent) })),
    tText: g.t_text,
    capped: g.capped,
    step: 0,
  };
}

export function outputsOf(o: GoldenOutputs): StateOutputs {
  return { piLogit: f32(o.pi_logit), logLambda: f32(o.log_lambda), qLogprobs: f32(o.q_logprobs), velocity: f32(o.velocity) };
}

/** The comparable part of a state, as in the golden files. */
export function plain(s: SamplerState) {
  return {
    tokens: [...s.tokens],
    prompt_len: s.promptLen,
    t_text: s.tText,
    capped: s.capped,
    images: s.images.map((im) => ({ t: im.t, latent: Array.from(im.latent) })),
  };
}
export function plainGolden(g: GoldenState) {
  return { ...g, images: g.images.map((im) => ({ t: im.t, latent: Array.from(f32(im.latent)) })) };
}

/**
 * Replays one golden step case: its state, outputs and recorded draws through `step`. Returns the
 * state before and after, and how many draws were used and recorded (tests assert on them).
 */
export function replayStepCase(c: GoldenFile['steps'][number], spec: ModelSpec) {
  const params = paramsOf(c.params);
  const before = stateOf(c.before, spec, params);
  const draws = new RecordedDraws(f64(c.uniforms), f32(c.normals));
  const out = {
    cond: outputsOf(c.cond),
    ...(c.uncond ? { uncond: outputsOf(c.uncond) } : {}),
    ...(c.text_free ? { textFree: outputsOf(c.text_free) } : {}),
  };
  const after = step(before, out, params, draws);
  return { before, after, used: draws.used, recorded: [c.uniforms.shape[0], c.normals.shape[0]] };
}
