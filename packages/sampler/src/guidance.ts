/**
 * Guidance and token choice (docs/algorithm.md §5, training/sample.py `token_distribution` / `pick`).
 * The API's convention: weight `w`, w = 1 is off. Text: λ̃ = λc^w · λu^(1−w) (on log λ), Q̃ ∝ Qc^w · Qu^(1−w)
 * (on log Q), u = the prompt-free twin. Images: ṽ = vf + w_image·(vc − vf), f = the text-free twin.
 * π always comes from the conditional pass.
 * All arithmetic is float64 on float32 inputs, in the reference's order, so results match it.
 */

/** Guided log λ for one gap. */
export function guidedLogLambda(llC: number, llU: number | undefined, w: number): number {
  return llU === undefined || w === 1 ? llC : w * llC + (1 - w) * llU;
}

/** Guided velocity component (float64); `vF` from the text-free twin. */
export function guidedVelocity(vC: number, vF: number | undefined, w: number): number {
  return vF === undefined || w === 1 ? vC : vF + w * (vC - vF);
}

/**
 * numpy's float64 `sum` of a contiguous array (pairwise summation, blocks of 128 unrolled by 8),
 * reproduced so that normalised probabilities match the reference to the last bit.
 */
export function numpySum(a: Float64Array, start = 0, n = a.length): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}

/**
 * The guided insertion distribution over the vocabulary.
 * @param lqC conditional log Q for one gap: float32 `[V]`
 * @param lqU unconditional log Q for the same gap: float32 `[V]`, or undefined (no guidance)
 * @returns float64 `[V]` summing to 1: logits `(w·log Qc + (1−w)·log Qu) / temperature`, the
 *   never-inserted ids removed, top-k (ties to the lower id) when `topK > 0`, softmax.
 */
export function tokenDistribution(
  lqC: Float32Array,
  lqU: Float32Array | undefined,
  w: number,
  temperature: number,
  topK: number,
  neverInsert: readonly number[],
): Float64Array {
  const v = lqC.length;
  if (lqU !== undefined && lqU.length !== v) throw new RangeError(`log Q lengths differ: cond ${v}, uncond ${lqU.length}`);
  const z = new Float64Array(v);
  const guided = lqU !== undefined && w !== 1;
  for (let k = 0; k < v; k++) {
    const c = lqC[k]!;
    z[k] = (guided ? w * c + (1 - w) * lqU[k]! : c) / temperature;
  }
  for (const id of neverInsert) if (id >= 0 && id < v) z[id] = -Infinity;
  if (topK > 0 && topK < v) {
    const order = Array.from({ length: v }, (_, k) => k).sort((a, b) => z[b]! - z[a]! || a - b);
    for (let r = topK; r < v; r++) z[order[r]!] = -Infinity;
  }
  let max = -Infinity;
  for (let k = 0; k < v; k++) if (z[k]! > max) max = z[k]!;
  for (let k = 0; k < v; k++) z[k] = Math.exp(z[k]! - max);
  const total = numpySum(z);
  for (let k = 0; k < v; k++) z[k] = z[k]! / total;
  return z;
}

/**
 * Inverse CDF: the first id k with `u < cumsum(p)[k]` (sequential float64 cumsum); the last id with
 * `p > 0` if rounding runs out.
 * @param p float64 `[V]` probabilities
 */
export function pick(p: Float64Array, u: number): number {
  let c = 0;
  for (let k = 0; k < p.length; k++) {
    c += p[k]!;
    if (u < c) return k;
  }
  for (let k = p.length - 1; k >= 0; k--) if (p[k]! > 0) return k;
  throw new RangeError(`distribution has no positive entry (length ${p.length})`);
}
