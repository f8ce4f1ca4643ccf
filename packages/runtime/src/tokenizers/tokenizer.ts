import type { PromptItem } from '@oneflow/sampler';

/** Raised for prompts that cannot be tokenized; the message names the offending word. */
export class TokenizeError extends Error {
  override readonly name = 'TokenizeError';
}

/** What the sampler and the services need from a model's tokenizer, whatever its kind. */
export interface Tokenizer {
  /** Ids are in `[0, vocabSize)`. */
  readonly vocabSize: number;
  /** Id of `<image>`. */
  readonly image: number;
  /** Text → token ids (`<image>` included as its id); a {@link TokenizeError} when the text cannot be encoded. */
  encode(text: string): number[];
  /**
   * Text plus input images → prompt items. Each `<image>` in the text takes the next image; images
   * left over (or all of them, when the text has no `<image>`) go in front, as in captioning prompts.
   * @param images float32 latents `[C, H, W]`
   */
  prompt(text: string, images?: readonly Float32Array[]): PromptItem[];
  /** Token ids → text (`<image>` stays as the placeholder). */
  decode(ids: readonly number[]): string;
  /** Each token's surface text, in order (`<image>` for an image token); joined they give `decode(ids)`. */
  pieces(ids: readonly number[]): string[];
}

/** `prompt` for any tokenizer: `<image>` ids in `ids` take the images in order, the rest go first. */
export function promptItems(ids: readonly number[], image: number, images: readonly Float32Array[]): PromptItem[] {
  const marks = ids.filter((x) => x === image).length;
  if (marks > images.length) throw new TokenizeError(`prompt has ${marks} <image> placeholders but ${images.length} images were given`);
  const front: PromptItem[] = images.slice(marks);
  let next = 0;
  return [...front, ...ids.map((x) => (x === image ? images[next++]! : x))];
}
