import { describe, expect, it } from 'vitest';
import { loadGolden, outputsOf, paramsOf, plain, plainGolden, replayStepCase, specOf, stateOf } from './testing/golden.js';
import { guidanceRows, step, stepOutputsOf } from './step.js';
import { textFree, unconditional } from './state.js';

const golden = loadGolden();
const spec = specOf(golden);

describe('step: golden vectors from training/sample.py (fixed state + outputs + draws → next state)', () => {
  for (const c of golden.steps) {
    it(c.name, () => {
      const { before, after, used, recorded } = replayStepCase(c, spec);
      expect(used).toEqual(recorded);
      expect(plain(after)).toEqual(plainGolden(c.after));
      expect(after.step).toBe(1);
      expect(plain(before)).toEqual(plainGolden(c.before)); // the input state is untouched
    });
  }
});

describe('guidanceRows / stepOutputsOf', () => {
  const c = golden.steps.find((x) => x.text_free)!;
  const base = stateOf(c.before, spec, paramsOf(c.params));
  const o = outputsOf(c.cond);
  it('asks for the state, then the prompt-free twin (w ≠ 1), then the text-free twin (image denoising, w_image ≠ 1)', () => {
    const rows = (guidance: number, imageGuidance: number) =>
      guidanceRows({ ...base, params: { ...base.params, guidance, imageGuidance } });
    expect(rows(1, 1).map((r) => r.promptLen)).toEqual([base.promptLen]);
    expect(rows(2, 1).map((r) => r.tokens)).toEqual([base.tokens, unconditional(base).tokens]);
    expect(rows(1, 3).map((r) => r.tokens)).toEqual([base.tokens, textFree(base).tokens]);
    expect(rows(2, 3)).toHaveLength(3);
    const settled = {
      ...base,
      params: { ...base.params, guidance: 1, imageGuidance: 3 },
      images: base.images.map((im) => ({ ...im, t: 1 })),
    };
    expect(guidanceRows(settled)).toHaveLength(1); // no image left to denoise
  });
  it('maps outputs back in that order and refuses a wrong count', () => {
    const s = { ...base, params: { ...base.params, guidance: 1, imageGuidance: 3 } };
    const f = { ...o };
    expect(stepOutputsOf(s, [o, f])).toEqual({ cond: o, textFree: f });
    expect(() => stepOutputsOf(s, [o])).toThrow(/expected outputs for 2 rows/);
    expect(() => step(s, { cond: o })).toThrow(/image guidance 3 needs text-free outputs/);
  });
});
