import type { PromptItem, SamplerState } from '@oneflow/sampler';
import type { EngineModel } from './models.js';

const VOCAB = ['<pad>', '<bos>', '<sep>', '<image>', 'draw', 'a', 'seven', 'two'];

/** A word tokenizer over {@link VOCAB} that refuses other words the way the model's does (a `TokenizeError`). */
const tokenizer = {
  encode(text: string): number[] {
    return text
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => {
        const id = VOCAB.indexOf(w);
        if (id < 0) throw Object.assign(new Error(`word ${JSON.stringify(w)} is not in the model's vocabulary`), { name: 'TokenizeError' });
        return id;
      });
  },
  prompt(text: string, images: readonly Float32Array[] = []): PromptItem[] {
    const ids = this.encode(text);
    let next = 0;
    const front = images.slice(ids.filter((x) => x === 3).length);
    return [...front, ...ids.map((x) => (x === 3 ? images[next++]! : x))];
  },
  decode(ids: readonly number[]): string {
    return ids.map((x) => VOCAB[x] ?? `<unk:${x}>`).join(' ');
  },
  pieces(ids: readonly number[]): string[] {
    return ids.map((x, i) => (i === 0 ? '' : ' ') + (VOCAB[x] ?? `<unk:${x}>`));
  },
};

/** A served model without weights (spec, defaults, tokenizer): what the engine's read side and dry runs use. */
export const toyModel = {
  config: {
    spec: {
      name: 'toy',
      sha256: 'a'.repeat(64),
      vocabSize: VOCAB.length,
      bos: 1,
      sep: 2,
      image: 3,
      neverInsert: [0, 1, 2],
      latentShape: [1, 2, 2],
    },
    defaults: { steps: 4, guidance: 1, imageGuidance: 1, temperature: 1, topK: 0, maxLen: 16, maxImages: 2 },
  },
  tokenizer,
  /** Refuses anything but a PNG signature (the runtime's codec decodes real ones), else a zero latent. */
  latentOf: (png: Uint8Array): Promise<Float32Array> =>
    png[0] === 0x89 && png[1] === 0x50
      ? Promise.resolve(new Float32Array(4))
      : Promise.reject(Object.assign(new Error('not a PNG image'), { name: 'ImageError' })),
} satisfies EngineModel;

/** `state` with generated tokens (ids of {@link VOCAB}) and the clocks given. */
export function withGenerated(state: SamplerState, tokens: number[], tText: number, step: number): SamplerState {
  return { ...state, tokens: [...state.tokens, ...tokens], tText, step };
}
