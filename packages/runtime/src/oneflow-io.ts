import { type SamplerState, type StateOutputs, latentSize } from '@oneflow/sampler';
import {
  type FloatType,
  type GraphMetadata,
  type NamedTensor,
  type OutputMap,
  type RawOutputs,
  floatInput,
  floatOutput,
} from './onnx/tensor.js';

/** The OneFlow graph's inputs and outputs (docs/model-contract.md; training/sample.py `pack`), the same in contract versions 1 and 2. */
export const INPUT_NAMES = ['tokens', 'token_mask', 'images', 'image_t', 'image_pos', 'image_mask'] as const;
export const OUTPUT_NAMES = ['pi_logit', 'log_lambda', 'q_logprobs', 'velocity'] as const;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

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
  // ids are small non-negative integers: on little-endian hosts they are written as the low 32 bits
  // of each int64 (the high word stays 0), which avoids a BigInt per token
  const low = LITTLE_ENDIAN ? new Int32Array(tokens.buffer) : undefined;
  const tokenMask = new Uint8Array(B * L);
  const images = new Float32Array(B * M * size);
  const imageT = new Float32Array(B * M).fill(1);
  const imagePos = new BigInt64Array(B * M);
  const imageMask = new Uint8Array(B * M);
  rows.forEach((r, b) => {
    let j = 0;
    r.tokens.forEach((tok, i) => {
      if (low) low[2 * (b * L + i)] = tok;
      else tokens[b * L + i] = BigInt(tok);
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

/** `pack`'s float inputs in the graph's float type (float16 models take half-precision `images` and `image_t`). */
export function toGraphInputs(inputs: ReturnType<typeof pack>, dtype: FloatType): Record<string, NamedTensor> {
  if (dtype === 'float32') return inputs;
  const { images, image_t } = inputs;
  return {
    ...inputs,
    images: floatInput(images.data as Float32Array, images.dims, dtype),
    image_t: floatInput(image_t.data as Float32Array, image_t.dims, dtype),
  };
}

/** A session's outputs with float16 converted to float32. */
export function fromGraphOutputs(raw: RawOutputs): OutputMap {
  return Object.fromEntries(Object.entries(raw).map(([name, t]) => [name, floatOutput(name, t)]));
}

/**
 * What a OneFlow graph must declare, from the model's config: names, element types and the fixed
 * dimensions (`V` and the latent shape); symbolic dimensions may be named anything.
 */
export function expectedOneflowGraph(
  v: number,
  latent: readonly [number, number, number],
  dtype: FloatType,
): { inputs: Record<string, ExpectedValue>; outputs: Record<string, ExpectedValue> } {
  const [c, h, w] = latent;
  return {
    inputs: {
      tokens: { type: 'int64', shape: [null, null] },
      token_mask: { type: 'bool', shape: [null, null] },
      images: { type: dtype, shape: [null, null, c, h, w] },
      image_t: { type: dtype, shape: [null, null] },
      image_pos: { type: 'int64', shape: [null, null] },
      image_mask: { type: 'bool', shape: [null, null] },
    },
    outputs: {
      pi_logit: { type: dtype, shape: [null, null] },
      log_lambda: { type: dtype, shape: [null, null] },
      q_logprobs: { type: dtype, shape: [null, null, v] },
      velocity: { type: dtype, shape: [null, null, c, h, w] },
    },
  };
}

/** An expected input/output: element type and shape, `null` where any dimension (symbolic or not) is fine. */
export interface ExpectedValue {
  readonly type: string;
  readonly shape: readonly (number | null)[];
}

/**
 * Checks a loaded graph's declared inputs and outputs against what the config implies; the error
 * names the file, the value and both shapes. Dimensions the graph leaves symbolic pass.
 */
export function checkGraph(
  file: string,
  meta: GraphMetadata,
  expected: { inputs: Record<string, ExpectedValue>; outputs: Record<string, ExpectedValue> },
): void {
  const problems: string[] = [];
  for (const [kind, declared, want] of [
    ['input', meta.inputs, expected.inputs],
    ['output', meta.outputs, expected.outputs],
  ] as const) {
    const byName = new Map(declared.map((d) => [d.name, d]));
    for (const [name, e] of Object.entries(want)) {
      const d = byName.get(name);
      if (!d) {
        problems.push(`${kind} ${name} missing (the graph has ${declared.map((x) => x.name).join(', ') || 'none'})`);
        continue;
      }
      if (d.type !== e.type) problems.push(`${kind} ${name}: element type ${d.type}, expected ${e.type}`);
      const fits =
        d.shape.length === e.shape.length && e.shape.every((x, i) => x === null || typeof d.shape[i] !== 'number' || d.shape[i] === x);
      if (!fits) problems.push(`${kind} ${name}: shape [${d.shape.join(', ')}], expected [${e.shape.map((x) => x ?? '?').join(', ')}]`);
    }
  }
  if (problems.length > 0) throw new Error(`${file} does not match config.json: ${problems.join('; ')}`);
}
