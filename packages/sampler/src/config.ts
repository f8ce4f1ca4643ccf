import { readFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { pngToLatent } from './png.js';
import { type GenerationSpec, type ModelSpec, type SamplerParams, type SamplerState, initState } from './state.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * `models/<name>/config.json` as written by training/export.py (docs/model-contract.md).
 * Unknown keys are kept (the contract may grow); the ones the sampler uses are validated.
 */
export const modelConfigSchema = z.looseObject({
  name: z.string().min(1),
  contract_version: z.literal(1),
  onnx_file: z.string().min(1),
  onnx_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  vocab: z.array(z.string()).min(4),
  special_tokens: z.object({ pad: z.number().int(), bos: z.number().int(), sep: z.number().int(), image: z.number().int() }),
  never_insert: z.array(z.number().int().min(0)),
  latent_shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  max_tokens: z.number().int().min(3),
  max_images: z.number().int().min(0),
  kappa: z.literal('linear'),
  sampler_defaults: z
    .object({
      steps: z.number().int().positive(),
      w: z.number(),
      /** Image guidance; absent in configs written before it existed: 1 (off). */
      w_image: z.number().default(1),
      temperature: z.number().positive(),
      top_k: z.number().int().min(0),
    })
    .optional(),
  /** Execution provider for this model's sessions: `cpu` (default) or `cuda` on GPU hosts. Not written by export.py. */
  execution_provider: z.enum(['cpu', 'cuda']).optional(),
});
export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** A model directory, loaded: its config, the spec states carry, and the ONNX path. */
export interface LoadedModelConfig {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly spec: ModelSpec;
  readonly onnxPath: string;
  /** Defaults from `sampler_defaults`, with the caps from the config. */
  readonly defaults: SamplerParams;
}

export function specFromConfig(c: ModelConfig): ModelSpec {
  const v = c.vocab.length;
  const ids = [...Object.values(c.special_tokens), ...c.never_insert];
  if (ids.some((x) => x >= v))
    throw new Error(`config ${c.name}: special token ids [${ids.join(', ')}] must be below the vocabulary size ${v}`);
  return {
    name: c.name,
    sha256: c.onnx_sha256,
    vocabSize: v,
    bos: c.special_tokens.bos,
    sep: c.special_tokens.sep,
    image: c.special_tokens.image,
    neverInsert: c.never_insert,
    latentShape: c.latent_shape,
  };
}

export function parseModelConfig(json: unknown, dir: string): LoadedModelConfig {
  const parsed = modelConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(`invalid ${join(dir, 'config.json')}: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const d = config.sampler_defaults ?? { steps: 32, w: 1, w_image: 1, temperature: 1, top_k: 0 };
  return {
    dir,
    config,
    spec: specFromConfig(config),
    onnxPath: join(dir, config.onnx_file),
    defaults: {
      steps: d.steps,
      guidance: d.w,
      imageGuidance: d.w_image,
      temperature: d.temperature,
      topK: d.top_k,
      maxLen: config.max_tokens,
      maxImages: config.max_images,
    },
  };
}

/** Reads and validates `<dir>/config.json`. The ONNX file's hash is checked when a session loads it. */
export async function loadModelConfig(dir: string): Promise<LoadedModelConfig> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read model config ${path}: ${(e as Error).message}`);
  }
  return parseModelConfig(JSON.parse(text), dir);
}

/**
 * The initial state of a generation: input PNGs decoded to latents, prompt tokenized, unset
 * settings from the model's defaults. Throws `RangeError` (naming the image or parameter) or
 * `TokenizeError` on input that cannot make a valid state.
 */
export function stateFromSpec(r: GenerationSpec, model: Pick<LoadedModelConfig, 'spec' | 'defaults'>, tokenizer: Tokenizer): SamplerState {
  const { spec, defaults } = model;
  const images = r.images.map((png, i) => {
    try {
      return pngToLatent(png, spec.latentShape);
    } catch (error) {
      throw new RangeError(`images.${i}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const params: SamplerParams = {
    ...defaults,
    ...(r.steps !== undefined ? { steps: r.steps } : {}),
    ...(r.guidance !== undefined ? { guidance: r.guidance } : {}),
    ...(r.imageGuidance !== undefined ? { imageGuidance: r.imageGuidance } : {}),
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.topK !== undefined ? { topK: r.topK } : {}),
  };
  return initState(tokenizer.prompt(r.prompt, images), params, spec, r.seed);
}

/**
 * Model directories to serve: the comma-separated `models` list (ONEFLOW_MODELS) if given, else
 * every directory under `root` that has a config.json.
 */
export function modelDirs(models: string | undefined, root = resolve('models')): string[] {
  if (models)
    return models
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => resolve(d));
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((dir) => existsSync(join(dir, 'config.json')));
}
