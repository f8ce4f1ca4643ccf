import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededDraws } from './rng.js';
import { type SamplerState, isDone, needsTextFree, textFree, unconditional } from './state.js';
import { step } from './step.js';
import { randomOutputs, state } from './testing/arbitraries.js';

/**
 * Can `after` be made from `before` by inserting at most one token right of each position
 * i ≥ promptLen − 1 (and nothing elsewhere)? Checked by search over alignments, independent of
 * how step builds its result.
 */
function insertableWithOnePerGap(before: readonly number[], after: readonly number[], promptLen: number): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, k: number): boolean => {
    // old[i] must sit at new[k]
    if (i === before.length) return k === after.length;
    const key = i * 1000 + k;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let ok = false;
    if (after[k] === before[i]) {
      ok = go(i + 1, k + 1) || (i >= promptLen - 1 && k + 1 < after.length && go(i + 1, k + 2));
    }
    memo.set(key, ok);
    return ok;
  };
  return go(0, 0);
}

/** Random outputs for a state and the twins its guidance needs. */
const outputsFor = (s: SamplerState, seed: number, seedU: number, seedF = seedU + 1) => ({
  cond: randomOutputs(s, seed),
  uncond: randomOutputs(unconditional(s), seedU),
  ...(needsTextFree(s) ? { textFree: randomOutputs(textFree(s), seedF) } : {}),
});

const stepped = fc.tuple(state, fc.nat(), fc.nat()).map(([s, seedA, seedB]) => {
  return { before: s, after: step(s, outputsFor(s, seedA, seedB)) };
});

describe('step invariants (property tests over random states, outputs and seeds)', () => {
  it('leaves the prompt untouched and only ever inserts, at most one token per gap, right of <sep>', () => {
    fc.assert(
      fc.property(stepped, ({ before, after }) => {
        expect(after.tokens.slice(0, before.promptLen)).toEqual(before.tokens.slice(0, before.promptLen));
        expect(after.promptLen).toBe(before.promptLen);
        expect(insertableWithOnePerGap(before.tokens, after.tokens, before.promptLen)).toBe(true);
        expect(after.tokens.length - before.tokens.length).toBeLessThanOrEqual(before.tokens.length - before.promptLen + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('moves every clock forward, never past 1, and keeps one image per <image> token', () => {
    fc.assert(
      fc.property(stepped, ({ before, after }) => {
        expect(after.tText).toBeGreaterThanOrEqual(before.tText);
        expect(after.tText).toBeLessThanOrEqual(1);
        if (before.tText < 1) expect(after.tText).toBeGreaterThan(before.tText);
        expect(after.images.length).toBe(after.tokens.filter((t) => t === after.spec.image).length);
        // old images keep their order; each advanced by min(Δt, 1 − t) on its own clock; new ones start at 0
        const old = new Set(before.images);
        let j = 0;
        for (const im of after.images) {
          expect(im.t).toBeLessThanOrEqual(1);
          if (im.t === 0 && !before.images.some((b) => b.latent === im.latent)) continue;
          const b = before.images[j++]!;
          if (b.t >= 1) expect(im).toBe(b);
          else expect(im.t).toBeCloseTo(Math.min(1, b.t + 1 / before.params.steps), 12);
          expect(old.has(im) || im.t > b.t).toBe(true);
        }
        expect(j).toBe(before.images.length);
        expect(after.step).toBe(before.step + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('respects the length and image caps, and inserts nothing once capped or t_text = 1', () => {
    fc.assert(
      fc.property(stepped, ({ before, after }) => {
        const added = after.tokens.length - before.tokens.length;
        if (before.capped || before.tText >= 1) expect(added).toBe(0);
        if (added > 0) expect(after.tokens.length).toBeLessThanOrEqual(Math.max(before.params.maxLen, before.tokens.length));
        const newImages = after.images.length - before.images.length;
        if (newImages > 0) expect(after.images.length).toBeLessThanOrEqual(before.params.maxImages);
        if (after.tokens.length >= before.params.maxLen && before.tText < 1) expect(after.capped && after.tText === 1).toBe(true);
        const inserted = after.tokens.filter((t, i) => i >= before.promptLen && !before.tokens.includes(t));
        for (const t of inserted) expect(before.spec.neverInsert).not.toContain(t);
      }),
      { numRuns: 200 },
    );
  });

  it('is deterministic: same state + outputs ⇒ same next state and RNG state', () => {
    fc.assert(
      fc.property(state, fc.nat(), (s, seed) => {
        const out = outputsFor(s, seed, seed + 1);
        expect(step(s, out)).toEqual(step(s, out));
      }),
      { numRuns: 50 },
    );
  });

  it('finishes in `steps` steps: t_text and all image clocks reach 1', () => {
    fc.assert(
      fc.property(state, fc.nat(), (s0, seed) => {
        let s: SamplerState = { ...s0, tText: 0, capped: false };
        // t + Δt accumulates rounding: a clock may need one extra (tiny) step, as in the reference
        const horizon = 2 * (s.params.steps + 1) + 1;
        for (let k = 0; k < horizon && !isDone(s); k++) {
          s = step(s, outputsFor(s, seed + k, seed + k + 7), s.params, new SeededDraws(s.rng));
        }
        expect(isDone(s)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
