import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RefineOp } from '@oneflow/contracts';
import { decodeCheckpoint, encodeCheckpoint, stateProblem } from './checkpoint.js';
import {
  applyBranchChange,
  applyRefineOp,
  deleteSpan,
  REFINE_HANDLERS,
  renoiseImage,
  replacePrompt,
  withParams,
  withSeed,
  type RefineHandlers,
} from './refine.js';
import { RecordedDraws, SeededDraws, rngStateFromSeed } from './rng.js';
import { type SamplerState, initState } from './state.js';
import { smallSpec, state } from './testing/arbitraries.js';

const params = { steps: 8, guidance: 1, imageGuidance: 1, temperature: 1, topK: 0, maxLen: 20, maxImages: 4 };
const lat = (x: number) => new Float32Array(4).fill(x);
// <bos> 5 <image> <sep> 6 <image> 7 <image> 8   (prompt image clean; two generated images)
const base: SamplerState = {
  ...initState([5, lat(1)], params, smallSpec, 3),
  tokens: [1, 5, 3, 2, 6, 3, 7, 3, 8],
  images: [
    { latent: lat(1), t: 1 },
    { latent: lat(0.5), t: 1 },
    { latent: lat(-0.5), t: 0.75 },
  ],
  tText: 1,
  capped: true,
  step: 9,
};

describe('refinement operations', () => {
  it('re-noises image j to s: Y ← sY + (1−s)ε, t_j = s, with ε from the state’s stream', () => {
    const r = renoiseImage(base, 1, 0.25, new RecordedDraws([], [2, 2, -2, 0]));
    expect(Array.from(r.images[1]!.latent)).toEqual([0.25 * 0.5 + 0.75 * 2, 0.25 * 0.5 + 0.75 * 2, 0.25 * 0.5 - 1.5, 0.125]);
    expect(r.images[1]!.t).toBe(0.25);
    expect(r.images[2]).toBe(base.images[2]);
    expect(base.images[1]!.t).toBe(1);
    const seeded = renoiseImage(base, 2, 0);
    expect(Array.from(seeded.images[2]!.latent)).toEqual(Array.from(new SeededDraws(base.rng).normals(4)));
    expect(seeded.rng).not.toEqual(base.rng);
    expect(() => renoiseImage(base, 0, 0.5)).toThrow(/prompt/);
    expect(() => renoiseImage(base, 3, 0.5)).toThrow(/3 out of range: the state has 3 images/);
    expect(() => renoiseImage(base, 1, 1.5)).toThrow(/1.5/);
  });

  it('deletes a generated span with its images and moves t_text back in proportion', () => {
    const d = deleteSpan(base, 5, 7); // "<image> 7"
    expect(d.tokens).toEqual([1, 5, 3, 2, 6, 3, 8]);
    expect(d.images).toEqual([base.images[0], base.images[2]]);
    expect(d.tText).toBeCloseTo((1 * (5 - 2)) / 5, 15);
    expect(d.capped).toBe(false);
    expect(deleteSpan(base, 4, 5, { tText: 0.5 }).tText).toBe(0.5);
    expect(() => deleteSpan(base, 2, 5)).toThrow(/inside the generated tokens \[4, 9\)/);
  });

  it('replaces the prompt and keeps the generated part and its images', () => {
    const r = replacePrompt(base, [9, 10, 11]);
    expect(r.tokens).toEqual([1, 9, 10, 11, 2, 6, 3, 7, 3, 8]);
    expect(r.promptLen).toBe(5);
    expect(r.images).toEqual([base.images[1], base.images[2]]);
  });

  it('changes guidance and seed; each result encodes to a new checkpoint with its parent', () => {
    const g = withParams(base, { guidance: 3 });
    expect(g.params.guidance).toBe(3);
    expect(() => withParams(base, { steps: 0 })).toThrow(/steps must be an integer ≥ 1, got 0/);
    expect(withParams(base, { imageGuidance: 4 }).params).toEqual({ ...base.params, imageGuidance: 4 });
    expect(applyBranchChange(base, { overrides: { imageGuidance: 2.5, guidance: undefined } }, () => []).params.imageGuidance).toBe(2.5);
    expect(() => withParams(base, { imageGuidance: NaN })).toThrow(/imageGuidance must be finite, got NaN/);
    const s = withSeed(base, 42);
    expect(s.rng).toEqual(rngStateFromSeed(42));
    const parent = encodeCheckpoint({ state: base, parent: null });
    const child = encodeCheckpoint({ state: g, parent: parent.id });
    expect(child.id).not.toBe(parent.id);
    expect(decodeCheckpoint(child.bytes).parent).toBe(parent.id);
  });
});

describe('refinement ops are defined once (the contracts schema) and handled by one table', () => {
  it('has exactly one handler per op of the schema, checked at compile time', () => {
    expectTypeOf<keyof typeof REFINE_HANDLERS>().toEqualTypeOf<RefineOp['op']>();
    // @ts-expect-error a table that lacks a handler (here replacePrompt) does not compile
    const incomplete = { renoiseImage: REFINE_HANDLERS.renoiseImage, deleteText: REFINE_HANDLERS.deleteText } satisfies RefineHandlers;
    expect(Object.keys(incomplete)).toHaveLength(2);
    expect(Object.keys(REFINE_HANDLERS).sort()).toEqual(['deleteText', 'renoiseImage', 'replacePrompt']);
  });

  it('dispatches each op to its operation, positions counted in the generated output (the prompt not included)', () => {
    const prompt = (text: string) => text.split(' ').map(Number);
    // Generated tokens of `base`: 6 <image> 7 <image> 8 (state positions 4..8); generated images 0, 1 = state images 1, 2.
    expect(applyRefineOp(base, { op: 'deleteText', start: 1, end: 3, reopenTo: 0.5 }, prompt)).toEqual(
      deleteSpan(base, 5, 7, { tText: 0.5 }),
    );
    expect(applyRefineOp(base, { op: 'replacePrompt', prompt: '9 10' }, prompt)).toEqual(replacePrompt(base, [9, 10]));
    expect(applyRefineOp(base, { op: 'renoiseImage', image: 1, to: 0.5 }, prompt)).toEqual(renoiseImage(base, 2, 0.5));
    expect(applyBranchChange(base, { refine: { op: 'renoiseImage', image: 0, to: 0.5 } }, prompt)).toEqual(renoiseImage(base, 1, 0.5));
    // Out of the generated output: refused in the caller's own coordinates.
    expect(() => applyRefineOp(base, { op: 'renoiseImage', image: 2, to: 0.5 }, prompt)).toThrow(
      'image 2 out of range: the generation has 2 generated images (0 to 1)',
    );
    expect(() => applyRefineOp(base, { op: 'deleteText', start: 3, end: 6, reopenTo: 0.5 }, prompt)).toThrow(
      'span [3, 6) must be a non-empty integer range of the 5 generated tokens [0, 5)',
    );
    expect(() => applyRefineOp(base, { op: 'deleteText', start: 2, end: 2, reopenTo: 0.5 }, prompt)).toThrow(/non-empty/);
  });
});

describe('seeded RNG', () => {
  it('continues identically from a snapshot, and differs across seeds', () => {
    const a = SeededDraws.fromSeed(1);
    a.uniforms(5);
    const snap = a.snapshot();
    const next = [...a.uniforms(3), ...a.normals(3)];
    const b = new SeededDraws(snap);
    expect([...b.uniforms(3), ...b.normals(3)]).toEqual(next);
    expect(Array.from(SeededDraws.fromSeed(2).uniforms(4))).not.toEqual(Array.from(SeededDraws.fromSeed(1).uniforms(4)));
  });

  it('gives uniforms in [0, 1) and roughly standard normals', () => {
    const d = SeededDraws.fromSeed(7);
    const u = d.uniforms(20_000);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const z = d.normals(20_000);
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    const varc = z.reduce((s, x) => s + (x - mean) ** 2, 0) / z.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(varc - 1)).toBeLessThan(0.05);
  });

  it('rejects seeds outside [0, 2^32)', () => {
    expect(() => rngStateFromSeed(-1)).toThrow(/got -1/);
    expect(() => rngStateFromSeed(1.5)).toThrow(/got 1.5/);
  });
});

describe('refinement operations keep states valid (property)', () => {
  it('every op on any state gives a state the codec accepts, with the prompt or generated part intact', () => {
    fc.assert(
      fc.property(
        state,
        fc.nat(),
        fc.nat(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat({ max: 0xffff_ffff }),
        (s, a, b, to, seed) => {
          const gen = s.tokens.length - s.promptLen;
          const out: SamplerState[] = [withSeed(s, seed), withParams(s, { guidance: 2.5 }), replacePrompt(s, [4, 5])];
          const own = s.images.length - s.tokens.slice(0, s.promptLen).filter((t) => t === s.spec.image).length;
          if (own > 0) out.push(renoiseImage(s, s.images.length - 1 - (a % own), to));
          if (gen > 0) {
            const start = s.promptLen + (a % gen);
            const end = start + 1 + (b % (s.tokens.length - start));
            const d = deleteSpan(s, start, end);
            expect(d.tokens.slice(0, s.promptLen)).toEqual(s.tokens.slice(0, s.promptLen));
            expect(d.tText).toBeLessThanOrEqual(s.tText);
            out.push(d);
          }
          for (const r of out) {
            expect(stateProblem(r)).toBeUndefined();
            expect(decodeCheckpoint(encodeCheckpoint({ state: r, parent: null }).bytes).state).toEqual(r);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
