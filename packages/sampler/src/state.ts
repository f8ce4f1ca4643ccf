import { type RngState, rngStateFromSeed } from './rng.js';

/**
 * What a state needs to know about its model: identity (checkpoints record it) and the constants
 * of its vocabulary and latent space (from `config.json`, docs/model-contract.md).
 */
export interface ModelSpec {
  /** Model name, e.g. `oneflow-toy-v1`. */
  readonly name: string;
  /** SHA-256 (hex) of the ONNX file. */
  readonly sha256: string;
  readonly vocabSize: number;
  readonly bos: number;
  readonly sep: number;
  readonly image: number;
  /** Token ids the sampler never inserts (`<pad>`, `<bos>`, `<sep>`). */
  readonly neverInsert: readonly number[];
  /** Latent shape `[C, H, W]`; latents are float32, row-major. */
  readonly latentShape: readonly [number, number, number];
}

/** Sampling parameters (training/sample.py `SamplerParams`). */
export interface SamplerParams {
  /** Number of steps over [0, 1]: Δt = 1 / steps. */
  readonly steps: number;
  /** Text guidance w (1 = off), against `unconditional()`: λ̃ = λc^w λu^(1−w), Q̃ ∝ Qc^w Qu^(1−w). */
  readonly guidance: number;
  /** Image guidance w_image (1 = off), against `textFree()`: ṽ = vf + w_image (vc − vf). */
  readonly imageGuidance: number;
  /** Divides the guided log Q. */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  readonly topK: number;
  /** Cap on the number of tokens, `<bos>`, prompt and `<sep>` included. */
  readonly maxLen: number;
  /** Cap on image slots, prompt images included. */
  readonly maxImages: number;
}

/** One image: its latent and its own clock. */
export interface ImageSlot {
  /** float32 `[C, H, W]` row-major (for the toy model `[1, 28, 28]`, pixel space in [-1, 1] at t = 1). */
  readonly latent: Float32Array;
  /** Own clock in [0, 1]; prompt images are clean (t = 1). */
  readonly t: number;
}

/**
 * The full sampler state; never mutated (every operation returns a new one; latents are shared
 * between states and must not be written to).
 *
 * `tokens` are `<bos> prompt… <sep> generated…`; `promptLen` counts `<bos>`..`<sep>` inclusive, and
 * insertion happens only in the gaps right of positions `promptLen − 1 .. n − 1`. `images` has one
 * slot per `<image>` token, in token order.
 */
export interface SamplerState {
  readonly spec: ModelSpec;
  readonly params: SamplerParams;
  /** The seed the RNG stream started from (reported in results; `rng` is the live state). */
  readonly seed: number;
  readonly rng: RngState;
  readonly tokens: readonly number[];
  readonly promptLen: number;
  readonly images: readonly ImageSlot[];
  /** Text clock in [0, 1]. */
  readonly tText: number;
  /** Set when the length cap was hit: no more insertions. */
  readonly capped: boolean;
  /** Steps taken since the initial state. */
  readonly step: number;
}

/** A prompt item: a token id, or a clean image latent (float32 `[C, H, W]`). */
export type PromptItem = number | Float32Array;

export function latentSize(spec: ModelSpec): number {
  const [c, h, w] = spec.latentShape;
  return c * h * w;
}

/** `<bos> prompt <sep>`, prompt images clean at t = 1, t_text = 0, RNG from `seed`. */
export function initState(prompt: readonly PromptItem[], params: SamplerParams, spec: ModelSpec, seed: number): SamplerState {
  validateParams(params);
  const size = latentSize(spec);
  const tokens = [spec.bos];
  const images: ImageSlot[] = [];
  for (const item of prompt) {
    if (typeof item === 'number') {
      if (!Number.isInteger(item) || item < 0 || item >= spec.vocabSize || item === spec.image) {
        throw new RangeError(`prompt token must be an id in [0, ${spec.vocabSize}) other than <image> (${spec.image}), got ${item}`);
      }
      tokens.push(item);
    } else {
      if (item.length !== size)
        throw new RangeError(`prompt image must have ${size} values [${spec.latentShape.join(', ')}], got ${item.length}`);
      tokens.push(spec.image);
      images.push({ latent: Float32Array.from(item), t: 1 });
    }
  }
  tokens.push(spec.sep);
  return {
    spec,
    params,
    seed,
    rng: rngStateFromSeed(seed),
    tokens,
    promptLen: tokens.length,
    images,
    tText: 0,
    capped: false,
    step: 0,
  };
}

export function validateParams(p: SamplerParams): void {
  const bad: string[] = [];
  if (!Number.isInteger(p.steps) || p.steps < 1) bad.push(`steps must be an integer ≥ 1, got ${p.steps}`);
  if (!Number.isFinite(p.guidance)) bad.push(`guidance must be finite, got ${p.guidance}`);
  if (!Number.isFinite(p.imageGuidance)) bad.push(`imageGuidance must be finite, got ${p.imageGuidance}`);
  if (!(p.temperature > 0) || !Number.isFinite(p.temperature)) bad.push(`temperature must be > 0, got ${p.temperature}`);
  if (!Number.isInteger(p.topK) || p.topK < 0) bad.push(`topK must be an integer ≥ 0, got ${p.topK}`);
  if (!Number.isInteger(p.maxLen) || p.maxLen < 2) bad.push(`maxLen must be an integer ≥ 2, got ${p.maxLen}`);
  if (!Number.isInteger(p.maxImages) || p.maxImages < 0) bad.push(`maxImages must be an integer ≥ 0, got ${p.maxImages}`);
  if (bad.length > 0) throw new RangeError(`invalid sampler parameters: ${bad.join('; ')}`);
}

/** Sampling is over when the text clock and every image clock reached 1. */
export function isDone(s: SamplerState): boolean {
  return s.tText >= 1 && s.images.every((im) => im.t >= 1);
}

/** Number of `<image>` tokens inside the prompt (they own the first image slots). */
export function promptImageCount(s: Pick<SamplerState, 'tokens' | 'promptLen' | 'spec'>): number {
  let k = 0;
  for (let i = 0; i < s.promptLen; i++) if (s.tokens[i] === s.spec.image) k++;
  return k;
}

/**
 * The unconditional twin for guidance: the prompt (and its images) replaced by `<bos> <sep>`.
 * Conditional position `i ≥ promptLen − 1` maps to unconditional position `i − (promptLen − 2)`;
 * conditional image `j ≥ k0` maps to unconditional image `j − k0` (k0 = prompt images).
 */
export function unconditional(s: SamplerState): SamplerState {
  const k0 = promptImageCount(s);
  return {
    ...s,
    tokens: [s.spec.bos, s.spec.sep, ...s.tokens.slice(s.promptLen)],
    promptLen: 2,
    images: s.images.slice(k0),
  };
}

/**
 * The twin for image guidance: no text at all, `<bos> <sep>` and one `<image>` per generated image
 * (its latent and clock kept). Conditional image `j ≥ k0` maps to twin image `j − k0`.
 */
export function textFree(s: SamplerState): SamplerState {
  const k0 = promptImageCount(s);
  const images = s.images.slice(k0);
  return {
    ...s,
    tokens: [s.spec.bos, s.spec.sep, ...images.map(() => s.spec.image)],
    promptLen: 2,
    images,
  };
}

/** Whether a step of `s` needs the `textFree()` twin's outputs: image guidance on and an image still denoising. */
export function needsTextFree(s: SamplerState, params: SamplerParams = s.params): boolean {
  return params.imageGuidance !== 1 && s.images.some((im) => im.t < 1);
}

/** The generated part as `{token ids, images}`, without `<bos>`, prompt and `<sep>`. */
export function generated(s: SamplerState): { tokens: number[]; images: ImageSlot[] } {
  return { tokens: s.tokens.slice(s.promptLen), images: s.images.slice(promptImageCount(s)) };
}
