import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelSpec } from '@oneflow/sampler';
import type { GraphFiles, ModelFormat, ModelInfo } from '../model.js';
import { HfTokenizer } from '../tokenizers/hf.js';
import { checkSpec, commonConfigFields, defaultsOf, fileName, graphFile, parseConfig, sameShape, sha256Hex, shape3 } from './common.js';
import { openOneflowOnnx } from './oneflow-onnx.js';

const fileRef = z.object({ file: fileName, sha256: sha256Hex });

/**
 * Contract version 2 (docs/model-contract.md): a Hugging Face tokenizer.json, images and latents
 * of their own shapes with an optional encoder/decoder pair, external-data weights, float16.
 */
export const v2ConfigSchema = z
  .looseObject({
    ...commonConfigFields,
    contract_version: z.literal(2),
    onnx_external_data: z.array(fileRef).default([]),
    dtype: z.enum(['float32', 'float16']).default('float32'),
    tokenizer: fileRef,
    special_tokens: z.object({ pad: z.string().min(1), bos: z.string().min(1), sep: z.string().min(1), image: z.string().min(1) }),
    never_insert: z.array(z.string().min(1)),
    vocab_size: z.number().int().min(4),
    image_shape: shape3,
    latent_shape: shape3,
    encoder: fileRef.optional(),
    decoder: fileRef.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.encoder === undefined) !== (c.decoder === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.encoder ? 'decoder' : 'encoder'], message: 'encoder and decoder come together' });
    }
    if (c.encoder === undefined && !sameShape(c.image_shape, c.latent_shape)) {
      ctx.addIssue({
        code: 'custom',
        path: ['latent_shape'],
        message: 'without an encoder and decoder latent_shape must equal image_shape',
      });
    }
    if (c.image_shape[0] !== 1 && c.image_shape[0] !== 3)
      ctx.addIssue({ code: 'custom', path: ['image_shape', 0], message: 'images have 1 (grey) or 3 (RGB) channels' });
  });
export type V2Config = z.infer<typeof v2ConfigSchema>;

/** The identity a state records: weights and token ids (docs/model-contract.md "Identity"). */
export function v2Identity(c: Pick<V2Config, 'onnx_sha256' | 'onnx_external_data' | 'tokenizer'>): string {
  const lines = ['oneflow-model-v2', c.onnx_sha256, ...c.onnx_external_data.map((f) => f.sha256), c.tokenizer.sha256];
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export const oneflowV2: ModelFormat = {
  id: 'oneflow-v2',
  contractVersion: 2,
  async describe(dir, json): Promise<ModelInfo> {
    const c = parseConfig(v2ConfigSchema, json, dir);
    // 1. the tokenizer: present, the promised bytes, the special tokens, the vocabulary size
    const tokPath = join(dir, c.tokenizer.file);
    let bytes: Buffer;
    try {
      bytes = await readFile(tokPath);
    } catch (e) {
      throw new Error(
        `${tokPath} (config.json tokenizer.file): ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}`,
      );
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== c.tokenizer.sha256)
      throw new Error(`${tokPath}: SHA-256 ${sha} does not match config.json tokenizer.sha256 ${c.tokenizer.sha256}`);
    let tokJson: unknown;
    try {
      tokJson = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new Error(`${tokPath}: not JSON: ${(e as Error).message}`);
    }
    const tokenizer = HfTokenizer.fromJson(tokJson, c.special_tokens, tokPath);
    if (tokenizer.vocabSize !== c.vocab_size) {
      throw new Error(
        `config.json vocab_size ${c.vocab_size} in ${dir} is not the size of ${tokPath} (${tokenizer.vocabSize} tokens, added ones included)`,
      );
    }
    const never = c.never_insert.map((name) => {
      const id = tokenizer.idOf(name);
      if (id === undefined) throw new Error(`config.json never_insert in ${dir}: ${JSON.stringify(name)} is not a token of ${tokPath}`);
      return id;
    });
    const spec: ModelSpec = {
      name: c.name,
      sha256: v2Identity(c),
      vocabSize: c.vocab_size,
      bos: tokenizer.special.bos,
      sep: tokenizer.special.sep,
      image: tokenizer.special.image,
      neverInsert: never,
      latentShape: c.latent_shape,
    };
    checkSpec(spec, dir);
    // 2. the graphs: present (their hashes are checked when a session starts)
    const external = c.onnx_external_data.map((f, i) => ({
      path: join(dir, f.file),
      sha256: f.sha256,
      field: `onnx_external_data.${i}.sha256`,
    }));
    const graphs: { model: GraphFiles; encoder?: GraphFiles; decoder?: GraphFiles } = {
      model: graphFile(dir, c.onnx_file, c.onnx_sha256, 'onnx_sha256', external),
      ...(c.encoder ? { encoder: graphFile(dir, c.encoder.file, c.encoder.sha256, 'encoder.sha256') } : {}),
      ...(c.decoder ? { decoder: graphFile(dir, c.decoder.file, c.decoder.sha256, 'decoder.sha256') } : {}),
    };
    return {
      dir,
      format: this.id,
      contractVersion: 2,
      spec,
      defaults: defaultsOf(c.sampler_defaults, c.max_tokens, c.max_images),
      tokenizer,
      imageShape: c.image_shape,
      latentShape: c.latent_shape,
      dtype: c.dtype,
      executionProvider: c.execution_provider ?? 'cpu',
      maxBatch: c.max_batch,
      graphs,
      vocabulary: null,
      config: c,
    };
  },
  open: openOneflowOnnx,
};
