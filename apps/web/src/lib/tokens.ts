/** One watch event or step snapshot, as far as the text view needs it. */
export interface TextSource {
  text: string;
  /** Each generated token's surface text (newer APIs); absent: `text` split on spaces. */
  pieces?: readonly string[] | undefined;
}

export const IMAGE_TOKEN = '<image>';

/** The generated tokens' surface texts, in order. */
export function piecesOf(s: TextSource): string[] {
  if (s.pieces) return [...s.pieces];
  return s.text === '' ? [] : s.text.split(' ').filter((p) => p.length > 0);
}

/** For each token, the index of the image it stands for (the k-th `<image>` is image k), or null. */
export function imageSlots(pieces: readonly string[]): (number | null)[] {
  let k = 0;
  return pieces.map((p) => (p.trim() === IMAGE_TOKEN ? k++ : null));
}
