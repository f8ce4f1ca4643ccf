import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelSpec, type SamplerParams, DEFAULT_SAMPLER_SETTINGS, type SamplerSettings } from '@oneflow/sampler';
import { z } from 'zod';
import type { GraphFiles, Shape3 } from '../model.js';

/** Parses a config with a format's schema; the error names the file and each bad field. */
export function parseConfig<T extends z.ZodType>(schema: T, json: unknown, dir: string): z.infer<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`invalid ${join(dir, 'config.json')}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export const shape3 = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex');
export const fileName = z
  .string()
  .min(1)
  .refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..' && f !== '.', 'a file name inside the model directory');

export const samplerDefaultsSchema = z.object({
  steps: z.number().int().positive(),
  w: z.number(),
  /** Image guidance; absent in configs written before it existed: 1 (off). */
  w_image: z.number().default(DEFAULT_SAMPLER_SETTINGS.w_image),
  temperature: z.number().positive(),
  top_k: z.number().int().min(0),
});

/** Fields every OneFlow config.json has, whatever its contract version. */
export const commonConfigFields = {
  name: z.string().min(1),
  onnx_file: fileName,
  onnx_sha256: sha256Hex,
  max_tokens: z.number().int().min(3),
  max_images: z.number().int().min(0),
  kappa: z.literal('linear'),
  sampler_defaults: samplerDefaultsSchema.optional(),
  /** Execution provider for this model's sessions: `cpu` (default) or `cuda` on GPU hosts. */
  execution_provider: z.enum(['cpu', 'cuda']).optional(),
  /** Most rows per forward pass this model takes (memory). */
  max_batch: z.number().int().positive().optional(),
};

/** The sampler parameters a model starts from: its `sampler_defaults` (or the project's defaults) with its caps. */
export function defaultsOf(d: SamplerSettings | undefined, maxLen: number, maxImages: number): SamplerParams {
  const s = d ?? DEFAULT_SAMPLER_SETTINGS;
  return { steps: s.steps, guidance: s.w, imageGuidance: s.w_image, temperature: s.temperature, topK: s.top_k, maxLen, maxImages };
}

/** A graph file that must exist, with the hash config.json promises (checked when a session starts). */
export function graphFile(
  dir: string,
  file: string,
  sha256: string,
  field: string,
  extra: readonly GraphFiles['files'][number][] = [],
): GraphFiles {
  const path = join(dir, file);
  if (!existsSync(path)) throw new Error(`${path} (config.json ${field.replace(/_sha256$|\.sha256$/, '')}) does not exist`);
  for (const f of extra) if (!existsSync(f.path)) throw new Error(`${f.path} (config.json ${f.field}) does not exist`);
  return { path, files: [{ path, sha256, field }, ...extra] };
}

/** Checks the special and never-insert ids of a spec against its vocabulary. */
export function checkSpec(spec: ModelSpec, dir: string): void {
  const ids = [spec.bos, spec.sep, spec.image, ...spec.neverInsert];
  if (ids.some((x) => !Number.isInteger(x) || x < 0 || x >= spec.vocabSize)) {
    throw new Error(
      `invalid ${join(dir, 'config.json')}: special token ids [${ids.join(', ')}] must be below the vocabulary size ${spec.vocabSize}`,
    );
  }
  if (spec.neverInsert.includes(spec.image)) throw new Error(`invalid ${join(dir, 'config.json')}: never_insert must not contain <image>`);
}

export const sameShape = (a: Shape3, b: Shape3) => a.every((x, i) => x === b[i]);
