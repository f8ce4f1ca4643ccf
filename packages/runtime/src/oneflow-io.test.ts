import { describe, expect, it } from 'vitest';
import { initState } from '@oneflow/sampler';
import { f32, fixturesDir, loadGolden, specOf, tensor } from '@oneflow/sampler/testing';
import { pack, unpack, OUTPUT_NAMES } from './oneflow-io.js';
import { loadOnnxModel } from './onnx/direct.js';

const golden = loadGolden();
const spec = specOf(golden);

describe('model outputs: onnxruntime-node vs the Python reference (fixed inputs)', () => {
  it('matches every output within 1e-4 on padded batches', async () => {
    const model = await loadOnnxModel(fixturesDir + 'tiny-model/model.onnx');
    try {
      for (const f of golden.forward) {
        const inputs = Object.fromEntries(Object.entries(f.inputs).map(([k, a]) => [k, tensor(a)]));
        const out = await model.run(inputs);
        for (const name of OUTPUT_NAMES) {
          const want = f32(f.outputs[name]!);
          const got = out[name]!;
          expect(got.dims).toEqual(f.outputs[name]!.shape);
          let d = 0;
          want.forEach((x, i) => (d = Math.max(d, Math.abs(x - got.data[i]!))));
          expect(d, name).toBeLessThan(1e-4);
        }
      }
    } finally {
      await model.release();
    }
  });
});

describe('pack / unpack', () => {
  const params = { steps: 4, guidance: 1, imageGuidance: 1, temperature: 1, topK: 0, maxLen: 40, maxImages: 6 };
  const img = new Float32Array(784).fill(0.5);
  const a = initState([5, 6, 8], params, spec, 0);
  const b = initState([img, 7], params, spec, 0);

  it('pads tokens with <pad>, images with masked zero slots at t = 1, and records <image> positions', () => {
    const t = pack([a, b]);
    expect(t.tokens.dims).toEqual([2, 5]);
    expect(Array.from(t.tokens.data as BigInt64Array, Number)).toEqual([spec.bos, 5, 6, 8, spec.sep, spec.bos, spec.image, 7, spec.sep, 0]);
    expect(Array.from(t.token_mask.data as Uint8Array)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect(t.images.dims).toEqual([2, 1, 1, 28, 28]);
    expect(Array.from(t.image_t.data as Float32Array)).toEqual([1, 1]);
    expect(Array.from(t.image_pos.data as BigInt64Array, Number)).toEqual([0, 1]);
    expect(Array.from(t.image_mask.data as Uint8Array)).toEqual([0, 1]);
    expect((t.images.data as Float32Array)[784]).toBe(0.5);
    expect((t.images.data as Float32Array)[0]).toBe(0);
  });

  it('fixes B, L row by row on the way back', () => {
    const V = spec.vocabSize;
    const out = {
      pi_logit: { data: Float32Array.from({ length: 10 }, (_, i) => i), dims: [2, 5] },
      log_lambda: { data: new Float32Array(10), dims: [2, 5] },
      q_logprobs: { data: Float32Array.from({ length: 10 * V }, (_, i) => i), dims: [2, 5, V] },
      velocity: { data: Float32Array.from({ length: 2 * 784 }, (_, i) => i), dims: [2, 1, 1, 28, 28] },
    };
    const [ra, rb] = unpack(out, [a, b]);
    expect(Array.from(ra!.piLogit)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(rb!.piLogit)).toEqual([5, 6, 7, 8]);
    expect(rb!.qLogprobs[0]).toBe(5 * V);
    expect(ra!.velocity.length).toBe(0);
    expect(rb!.velocity[0]).toBe(784);
  });

  it('rejects an image count that does not match the <image> tokens, naming both', () => {
    expect(() => pack([{ ...a, tokens: [spec.bos, spec.image, spec.sep] }])).toThrow(/no image slot \(0 slots\)/);
  });
});
