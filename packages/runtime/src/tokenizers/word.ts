import type { ModelConfig } from './config.js';
import type { PromptItem } from './state.js';

/** Raised for prompts that cannot be tokenized; the message names the offending word. */
export class TokenizeError extends Error {
  override readonly name = 'TokenizeError';
}

/**
 * The model's word-level vocabulary (config.json `vocab`): a prompt is lower-cased and split on
 * whitespace, and trailing `?`, `,` or `.` are split off a word the vocabulary lacks
 * ("this?" → "this", "?"). `<image>` marks where an input image goes.
 */
export class Tokenizer {
  private readonly ids: Map<string, number>;
  readonly image: number;

  constructor(
    readonly vocab: readonly string[],
    special: ModelConfig['special_tokens'],
  ) {
    this.ids = new Map(vocab.map((w, i) => [w, i]));
    this.image = special.image;
  }

  static fromConfig(c: Pick<ModelConfig, 'vocab' | 'special_tokens'>): Tokenizer {
    return new Tokenizer(c.vocab, c.special_tokens);
  }

  /** Text → token ids (`<image>` included as its id). */
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

  /**
   * Text plus input images → prompt items. Each `<image>` in the text takes the next image; images
   * left over (or all of them, when the text has no `<image>`) go in front, as in captioning prompts.
   * @param images float32 latents `[C, H, W]`
   */
  prompt(text: string, images: readonly Float32Array[] = []): PromptItem[] {
    const ids = this.encode(text);
    const marks = ids.filter((x) => x === this.image).length;
    if (marks > images.length) throw new TokenizeError(`prompt has ${marks} <image> placeholders but ${images.length} images were given`);
    const front: PromptItem[] = images.slice(marks);
    let next = 0;
    return [...front, ...ids.map((x) => (x === this.image ? images[next++]! : x))];
  }

  /** Each token's surface text, in order (`<image>` for an image token): what a viewer shows token by token. */
  pieces(ids: readonly number[]): string[] {
    return ids.map((x, i) => (i === 0 ? '' : ' ') + (this.vocab[x] ?? `<unk:${x}>`));
  }

  /** Token ids → words joined by spaces (`<image>` stays as the placeholder). */
  decode(ids: readonly number[]): string {
    return ids.map((x) => this.vocab[x] ?? `<unk:${x}>`).join(' ');
  }
}
