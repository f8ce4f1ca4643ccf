import { type PromptItem, type ModelSpec, type SamplerParams, type SamplerState, initState } from './state.js';

/** Sampler settings as a model's config.json writes them (`sampler_defaults`). */
export interface SamplerSettings {
  readonly steps: number;
  readonly w: number;
  readonly w_image: number;
  readonly temperature: number;
  readonly top_k: number;
}

/** The settings of a model whose config names none: the one place the project's defaults live. */
export const DEFAULT_SAMPLER_SETTINGS: SamplerSettings = { steps: 32, w: 1, w_image: 1, temperature: 1, top_k: 0 };

/** A new generation as a client describes it, images already in the model's latent space. */
export interface GenerationSpec {
  prompt: string;
  /** Input images as latents `[C, H, W]` (the runtime encodes PNGs). */
  latents: readonly Float32Array[];
  seed: number;
  steps?: number | undefined;
  guidance?: number | undefined;
  imageGuidance?: number | undefined;
  temperature?: number | undefined;
  topK?: number | undefined;
}

/** What `stateFromSpec` needs of a model: its spec, its defaults and a way to turn prompt text into items. */
export interface PromptModel {
  readonly spec: ModelSpec;
  readonly defaults: SamplerParams;
  readonly tokenizer: { prompt(text: string, images?: readonly Float32Array[]): PromptItem[] };
}

/**
 * The initial state of a generation: prompt tokenized with its images, unset settings from the
 * model's defaults. Throws what the tokenizer throws for text it cannot encode, and `RangeError`
 * for parameters or images that cannot make a valid state.
 */
export function stateFromSpec(r: GenerationSpec, model: PromptModel): SamplerState {
  const params: SamplerParams = {
    ...model.defaults,
    ...(r.steps !== undefined ? { steps: r.steps } : {}),
    ...(r.guidance !== undefined ? { guidance: r.guidance } : {}),
    ...(r.imageGuidance !== undefined ? { imageGuidance: r.imageGuidance } : {}),
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.topK !== undefined ? { topK: r.topK } : {}),
  };
  return initState(model.tokenizer.prompt(r.prompt, r.latents), params, model.spec, r.seed);
}
