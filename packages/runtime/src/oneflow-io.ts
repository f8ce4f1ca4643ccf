import type { NamedTensor, OutputMap } from './model/onnx.js';
import { type SamplerState, latentSize } from './state.js';
import type { StateOutputs } from './step.js';

/** The model's inputs and outputs (docs/model-contract.md; training/sample.py `pack`). */
export const INPUT_NAMES = ['tokens', 'token_mask', 'images', 'image_t', 'image_pos', 'image_mask'] as const;
export const OUTPUT_NAMES = ['pi_logit', 'log_lambda', 'q_logprobs', 'velocity'] as const;

/** One row of a batch: the token ids and images the model sees. */
export type BatchRow = Pick<SamplerState, 'tokens' | 'images' | 'spec'>;

/**
 * The padded shape a row is always run at, whatever else is in its batch: `L` rounded up to a
 * multiple of `multiple`, `M = max(1, images)`. ONNX Runtime's results for a row depend on the
 * padded shape but not on the other rows (checked in runner.test.ts; the one exception, a batch
 * with a single image in it, is handled by the runner), so batching rows of one shape keeps every
 * generation bit-identical to running it alone.
 */
export function canonicalShape(row: BatchRow, multiple: number): { length: number; images: number } {
  return { length: Math.ceil(row.tokens.length / multiple) * multiple, images: Math.max(1, row.images.length) };
}

/**
 * States → model inputs, padded to the longest row
 * (or to `shape.length` / `shape.images` when given and larger)
 * - `tokens` int64 `[B, L]` (`<pad>` = 0 after the end), `token_mask` bool `[B, L]`;
 * - `images` float32 `[B, M, C, H, W]` (zeros past the row's images), `image_t` float32 `[B, M]`
 *   (1 for padding), `image_pos` int64 `[B, M]` (position of the row's j-th `<image>` token, 0 for
 *   padding), `image_mask` bool `[B, M]`; M ≥ 1 even when no row has an image.
 */
export function pack(
  rows: readonly BatchRow[],
  shape: { length?: number; images?: number } = {},
  pad = 0,
): Record<(typeof INPUT_NAMES)[number], NamedTensor> {
  const first = rows[0];
  if (first === undefined) throw new RangeError('pack needs at least one state');
  const [c, h, w] = first.spec.latentShape;
  const size = latentSize(first.spec);
  const B = rows.length;
  const L = Math.max(shape.length ?? 0, ...rows.map((r) => r.tokens.length));
  const M = Math.max(1, shape.images ?? 0, ...rows.map((r) => r.images.length));
  const tokens = new BigInt64Array(B * L).fill(BigInt(pad));
  const tokenMask = new Uint8Array(B * L);
  const images = new Float32Array(B * M * size);
  const imageT = new Float32Array(B * M).fill(1);
  const imagePos = new BigInt64Array(B * M);
  const imageMask = new Uint8Array(B * M);
  rows.forEach((r, b) => {
    let j = 0;
    r.tokens.forEach((tok, i) => {
      tokens[b * L + i] = BigInt(tok);
      tokenMask[b * L + i] = 1;
      if (tok === r.spec.image) {
        const im = r.images[j];
        if (im === undefined) throw new RangeError(`row ${b}: <image> token at ${i} has no image slot (${r.images.length} slots)`);
        images.set(im.latent, (b * M + j) * size);
        imageT[b * M + j] = im.t;
        imagePos[b * M + j] = BigInt(i);
        imageMask[b * M + j] = 1;
        j++;
      }
    });
    if (j !== r.images.length) throw new RangeError(`row ${b}: ${j} <image> tokens but ${r.images.length} image slots`);
  });
  return {
    tokens: { type: 'int64', data: tokens, dims: [B, L] },
    token_mask: { type: 'bool', data: tokenMask, dims: [B, L] },
    images: { type: 'float32', data: images, dims: [B, M, c, h, w] },
    image_t: { type: 'float32', data: imageT, dims: [B, M] },
    image_pos: { type: 'int64', data: imagePos, dims: [B, M] },
    image_mask: { type: 'bool', data: imageMask, dims: [B, M] },
  };
}

/**
 * Batched outputs → one {@link StateOutputs} per row, unpadded (views into the batch's buffers).
 * Expects `pi_logit`/`log_lambda` `[B, L]`, `q_logprobs` `[B, L, V]`, `velocity` `[B, M, C, H, W]`.
 */
export function unpack(out: OutputMap, rows: readonly BatchRow[]): StateOutputs[] {
  const get = (name: (typeof OUTPUT_NAMES)[number]) => {
    const t = out[name];
    if (t === undefined) throw new Error(`model output ${name} missing; got [${Object.keys(out).join(', ')}]`);
    return t;
  };
  const pi = get('pi_logit');
  const ll = get('log_lambda');
  const q = get('q_logprobs');
  const v = get('velocity');
  const [B = 0, L = 0] = pi.dims;
  const V = q.dims[2] ?? 0;
  const M = v.dims[1] ?? 0;
  const size = v.dims.slice(2).reduce((a, x) => a * x, 1);
  if (B !== rows.length) throw new RangeError(`expected outputs for ${rows.length} rows, got pi_logit [${pi.dims.join(', ')}]`);
  return rows.map((r, b) => {
    const n = r.tokens.length;
    const m = r.images.length;
    return {
      piLogit: pi.data.subarray(b * L, b * L + n),
      logLambda: ll.data.subarray(b * L, b * L + n),
      qLogprobs: q.data.subarray(b * L * V, (b * L + n) * V),
      velocity: v.data.subarray(b * M * size, (b * M + m) * size),
    };
  });
}
