import { describe, expect, it } from 'vitest';
import { remainingSteps } from './checkpoints.js';

describe('remainingSteps (the `steps` a view reports is step + this)', () => {
  const params = { steps: 32 };
  it('is what the slowest clock still needs, at 1/steps per step', () => {
    expect(remainingSteps({ params, tText: 0, images: [] })).toBe(32);
    expect(remainingSteps({ params, tText: 0.5, images: [] })).toBe(16);
    // Text done at step 32, an image inserted at step 30 still needs 30 steps: it ends at step 62, not 32.
    expect(remainingSteps({ params, tText: 1, images: [{ t: 1 }, { t: 2 / 32 }] })).toBe(30);
    expect(remainingSteps({ params, tText: 1, images: [{ t: 1 }] })).toBe(0);
  });
  it('does not count a clock a rounding error short of 1 as a step', () => {
    let t = 0;
    for (let i = 0; i < 32; i++) t += 1 / 32;
    expect(remainingSteps({ params, tText: t, images: [] })).toBe(0);
  });
});
