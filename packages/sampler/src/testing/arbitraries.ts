import fc from 'fast-check';
import { rngStateFromSeed } from '../rng.js';
import type { ImageSlot, ModelSpec, SamplerParams, SamplerState } from '../state.js';
import type { StateOutputs } from '../step.js';

/** fast-check arbitraries over small states (a 12-token vocabulary, latents [1, 2, 2]). */
export const smallSpec: ModelSpec = {
  name: 'prop-model',
  sha256: 'ab'.repeat(32),
  vocabSize: 12,
  bos: 1,
  sep: 2,
  image: 3,
  neverInsert: [0, 1, 2],
  latentShape: [1, 2, 2],
};
const SIZE = 4;

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -8, max: 8 });
const latent = fc.array(f32, { minLength: SIZE, maxLength: SIZE }).map((a) => Float32Array.from(a));
const clock = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

export const params: fc.Arbitrary<SamplerParams> = fc.record({
  steps: fc.integer({ min: 1, max: 64 }),
  guidance: fc.oneof(fc.constant(1), fc.double({ min: -1, max: 4, noNaN: true })),
  imageGuidance: fc.oneof(fc.constant(1), fc.double({ min: -1, max: 6, noNaN: true })),
  temperature: fc.double({ min: 0.1, max: 3, noNaN: true }),
  topK: fc.integer({ min: 0, max: 12 }),
  maxLen: fc.integer({ min: 4, max: 40 }),
  maxImages: fc.integer({ min: 0, max: 6 }),
});

/** Any valid state: `<bos> prompt <sep> generated`, one image per `<image>` token. */
export const state: fc.Arbitrary<SamplerState> = fc
  .record({
    prompt: fc.array(fc.integer({ min: 3, max: 11 }), { maxLength: 5 }),
    gen: fc.array(fc.integer({ min: 3, max: 11 }), { maxLength: 10 }),
    params,
    seed: fc.nat({ max: 0xffff_ffff }),
    tText: clock,
    capped: fc.boolean(),
    step: fc.nat({ max: 1000 }),
    latents: fc.array(fc.tuple(latent, clock), { minLength: 15, maxLength: 15 }),
  })
  .map((r) => {
    const tokens = [smallSpec.bos, ...r.prompt, smallSpec.sep, ...r.gen];
    const promptLen = r.prompt.length + 2;
    let j = 0;
    const images: ImageSlot[] = [];
    tokens.forEach((tok, i) => {
      if (tok !== smallSpec.image) return;
      const [lat, t] = r.latents[j++]!;
      images.push({ latent: lat, t: i < promptLen ? 1 : t });
    });
    return {
      spec: smallSpec,
      params: r.params,
      seed: r.seed,
      rng: rngStateFromSeed(r.seed),
      tokens,
      promptLen,
      images,
      tText: r.tText,
      capped: r.capped,
      step: r.step,
    };
  });

/** Random model outputs for a state (and its unconditional twin), seeded from `seed`. */
export function randomOutputs(s: Pick<SamplerState, 'tokens' | 'images'>, seed: number, scale = 3): StateOutputs {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  };
  const n = s.tokens.length;
  const V = smallSpec.vocabSize;
  const q = new Float32Array(n * V);
  for (let i = 0; i < n; i++) {
    const logits = Array.from({ length: V }, rnd);
    const lse = Math.log(logits.reduce((a, z) => a + Math.exp(z), 0));
    logits.forEach((z, k) => (q[i * V + k] = z - lse));
  }
  return {
    piLogit: Float32Array.from({ length: n }, rnd),
    logLambda: Float32Array.from({ length: n }, rnd),
    qLogprobs: q,
    velocity: Float32Array.from({ length: s.images.length * SIZE }, rnd),
  };
}
