import * as tokenizers from '@huggingface/tokenizers';
import type { PromptItem } from '@oneflow/sampler';
import { type Tokenizer, TokenizeError, promptItems } from './tokenizer.js';

/**
 * The part of `@huggingface/tokenizers`' Tokenizer used here. The package's declaration files use
 * extensionless relative imports, which NodeNext resolution cannot follow, so its types are
 * stated here once.
 */
interface HfLibTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
}
const HfLib = tokenizers.Tokenizer as unknown as new (json: object, config: object) => HfLibTokenizer;

/** Names of the special tokens a OneFlow model needs (config.json `special_tokens`). */
export interface SpecialTokenNames {
  readonly pad: string;
  readonly bos: string;
  readonly sep: string;
  readonly image: string;
}

/**
 * A Hugging Face `tokenizer.json` (BPE, Unigram or WordLevel) read by `@huggingface/tokenizers`:
 * free text in, with no special tokens added (`<image>` in the text is the image token); out, the
 * tokenizer's own decoder decides spacing (special tokens kept).
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly image: number;
  /** Ids of the special tokens, by role. */
  readonly special: Readonly<Record<keyof SpecialTokenNames, number>>;

  private constructor(
    private readonly lib: HfLibTokenizer,
    special: Record<keyof SpecialTokenNames, number>,
    vocabSize: number,
  ) {
    this.special = special;
    this.image = special.image;
    this.vocabSize = vocabSize;
  }

  /**
   * @param json the parsed tokenizer.json
   * @param names the special tokens by role; each must be an added special token of the tokenizer
   * @param where names the file in errors
   */
  static fromJson(json: unknown, names: SpecialTokenNames, where: string): HfTokenizer {
    let lib: HfLibTokenizer;
    try {
      lib = new HfLib(json as object, {});
    } catch (e) {
      throw new Error(`${where}: not a tokenizer.json the tokenizers library can read: ${(e as Error).message}`);
    }
    const added = new Map([...lib.get_added_tokens_decoder()].map(([id, t]) => [t.content, { id, special: t.special }]));
    const special = {} as Record<keyof SpecialTokenNames, number>;
    const problems: string[] = [];
    for (const role of ['pad', 'bos', 'sep', 'image'] as const) {
      const t = added.get(names[role]);
      if (t === undefined) problems.push(`special_tokens.${role} ${JSON.stringify(names[role])} is not an added token of the tokenizer`);
      else if (!t.special) problems.push(`special_tokens.${role} ${JSON.stringify(names[role])} is an added token but not a special one`);
      else special[role] = t.id;
    }
    if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);
    const vocab = lib.get_vocab(true);
    const vocabSize = Math.max(...vocab.values()) + 1;
    return new HfTokenizer(lib, special, vocabSize);
  }

  /** The id of a token's text, if the tokenizer has it. */
  idOf(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  encode(text: string): number[] {
    let ids: number[];
    try {
      ids = this.lib.encode(text, { add_special_tokens: false }).ids;
    } catch (e) {
      throw new TokenizeError(`prompt cannot be tokenized: ${(e as Error).message}`);
    }
    const bad = ids.find((x) => x === this.special.bos || x === this.special.sep || x === this.special.pad);
    if (bad !== undefined) throw new TokenizeError(`prompt contains the reserved token ${JSON.stringify(this.lib.id_to_token(bad))}`);
    return ids;
  }

  prompt(text: string, images: readonly Float32Array[] = []): PromptItem[] {
    return promptItems(this.encode(text), this.image, images);
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    return this.lib.decode([...ids], { skip_special_tokens: false });
  }

  pieces(ids: readonly number[]): string[] {
    // Each token decoded after its left context, so spacing rules that look at neighbours hold and
    // the pieces join to the whole decode.
    const out: string[] = [];
    let before = '';
    for (let i = 0; i < ids.length; i++) {
      const upto = this.decode(ids.slice(0, i + 1));
      out.push(upto.startsWith(before) ? upto.slice(before.length) : (this.lib.id_to_token(ids[i]!) ?? ''));
      before = upto;
    }
    return out;
  }
}
