import type { PromptItem } from '@oneflow/sampler';
import { type Tokenizer, TokenizeError, promptItems } from './tokenizer.js';

/**
 * A word-level vocabulary (contract version 1, config.json `vocab`): a prompt is lower-cased and
 * split on whitespace, and trailing `?`, `,` or `.` are split off a word the vocabulary lacks
 * ("this?" → "this", "?"). `<image>` marks where an input image goes.
 */
export class WordTokenizer implements Tokenizer {
  private readonly ids: Map<string, number>;
  readonly vocabSize: number;

  constructor(
    readonly vocab: readonly string[],
    readonly image: number,
  ) {
    this.ids = new Map(vocab.map((w, i) => [w, i]));
    this.vocabSize = vocab.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const raw of text.toLowerCase().split(/\s+/).filter(Boolean)) {
      const tail: number[] = [];
      let w = raw;
      while (!this.ids.has(w) && w.length > 1 && /[?,.]$/.test(w) && this.ids.has(w.slice(-1))) {
        tail.unshift(this.ids.get(w.slice(-1))!);
        w = w.slice(0, -1);
      }
      const id = this.ids.get(w);
      if (id === undefined) {
        throw new TokenizeError(
          `word ${JSON.stringify(raw)} is not in the model's vocabulary (${this.vocab.length} words, e.g. ${this.vocab.slice(4, 12).join(', ')})`,
        );
      }
      out.push(id, ...tail);
    }
    return out;
  }

  prompt(text: string, images: readonly Float32Array[] = []): PromptItem[] {
    return promptItems(this.encode(text), this.image, images);
  }

  pieces(ids: readonly number[]): string[] {
    return ids.map((x, i) => (i === 0 ? '' : ' ') + (this.vocab[x] ?? `<unk:${x}>`));
  }

  /** Words joined by spaces (the version-1 convention: `"a , b"`). */
  decode(ids: readonly number[]): string {
    return ids.map((x) => this.vocab[x] ?? `<unk:${x}>`).join(' ');
  }
}
