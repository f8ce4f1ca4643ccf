import { z } from 'zod';
import type { ModelSpec } from '@oneflow/sampler';
import type { ModelFormat, ModelInfo } from '../model.js';
import { WordTokenizer } from '../tokenizers/word.js';
import { checkSpec, commonConfigFields, defaultsOf, graphFile, parseConfig, shape3 } from './common.js';
import { openOneflowOnnx } from './oneflow-onnx.js';

/**
 * Contract version 1 (docs/model-contract.md): a word-level vocabulary in config.json, latents in
 * pixel space (no autoencoder), float32. Unknown keys are kept (the contract may grow).
 */
export const v1ConfigSchema = z.looseObject({
  ...commonConfigFields,
  contract_version: z.literal(1),
  vocab: z.array(z.string()).min(4),
  special_tokens: z.object({ pad: z.number().int(), bos: z.number().int(), sep: z.number().int(), image: z.number().int() }),
  never_insert: z.array(z.number().int().min(0)),
  latent_shape: shape3,
});
export type V1Config = z.infer<typeof v1ConfigSchema>;

export function v1Spec(c: V1Config): ModelSpec {
  return {
    name: c.name,
    sha256: c.onnx_sha256,
    vocabSize: c.vocab.length,
    bos: c.special_tokens.bos,
    sep: c.special_tokens.sep,
    image: c.special_tokens.image,
    neverInsert: c.never_insert,
    latentShape: c.latent_shape,
  };
}

export const oneflowV1: ModelFormat = {
  id: 'oneflow-v1',
  contractVersion: 1,
  async describe(dir, json): Promise<ModelInfo> {
    const c = parseConfig(v1ConfigSchema, json, dir);
    const spec = v1Spec(c);
    checkSpec(spec, dir);
    return {
      dir,
      format: this.id,
      contractVersion: 1,
      spec,
      defaults: defaultsOf(c.sampler_defaults, c.max_tokens, c.max_images),
      tokenizer: new WordTokenizer(c.vocab, c.special_tokens.image),
      imageShape: c.latent_shape,
      latentShape: c.latent_shape,
      dtype: 'float32',
      executionProvider: c.execution_provider ?? 'cpu',
      maxBatch: c.max_batch,
      graphs: { model: graphFile(dir, c.onnx_file, c.onnx_sha256, 'onnx_sha256') },
      vocabulary: c.vocab.filter((w) => !/^<(pad|bos|sep)>$/.test(w)),
      config: c,
    };
  },
  open: openOneflowOnnx,
};
