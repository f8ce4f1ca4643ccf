/**
 * Which tokens of `next` are new since `prev`. Text in an insertion-only Edit Flow only grows, so
 * `prev` is a subsequence of `next` and a left-to-right greedy match finds an embedding; when it is
 * not (a refinement deleted a span), the longest common subsequence decides. `mask[i]` is true
 * when `next[i]` was inserted.
 */
export function insertedMask(prevPieces: readonly string[], nextPieces: readonly string[]): boolean[] {
  // Surface texts carry their leading space, which can change when a token is inserted before them.
  const prev = prevPieces.map((p) => p.trim());
  const next = nextPieces.map((p) => p.trim());
  const mask = new Array<boolean>(next.length).fill(true);
  let j = 0;
  for (let i = 0; i < next.length && j < prev.length; i++) {
    if (next[i] === prev[j]) {
      mask[i] = false;
      j++;
    }
  }
  if (j === prev.length) return mask;
  return lcsMask(prev, next);
}

function lcsMask(prev: readonly string[], next: readonly string[]): boolean[] {
  const n = prev.length;
  const m = next.length;
  // lengths[(i) * (m + 1) + j]: LCS of prev[i:] and next[j:]
  const lengths = new Uint16Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => lengths[i * (m + 1) + j]!;
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lengths[i * (m + 1) + j] = prev[i] === next[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  const mask = new Array<boolean>(m).fill(true);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (prev[i] === next[j]) {
      mask[j] = false;
      i++;
      j++;
    } else if (at(i + 1, j) >= at(i, j + 1)) i++;
    else j++;
  }
  return mask;
}

/** Number of tokens inserted between two texts (0 when nothing new). */
export function insertedCount(prev: readonly string[], next: readonly string[]): number {
  return insertedMask(prev, next).filter(Boolean).length;
}
