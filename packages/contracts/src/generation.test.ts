import { describe, expect, it } from 'vitest';
import { MAX_STEPS_PER_ACTIVITY, adaptiveStepsPerActivity } from './generation.js';

describe('adaptiveStepsPerActivity', () => {
  it('fills the target at the measured ms per step, between 1 and the cap', () => {
    expect(adaptiveStepsPerActivity({ ms: 320, stepsRun: 32 }, 2000, 32)).toBe(200); // toy: 10 ms a step
    expect(adaptiveStepsPerActivity({ ms: 3000, stepsRun: 1 }, 2000, 1)).toBe(1); // 3 s a step: one
    expect(adaptiveStepsPerActivity({ ms: 1900, stepsRun: 2 }, 2000, 2)).toBe(3); // rounds up: at least the target
    expect(adaptiveStepsPerActivity({ ms: 10, stepsRun: 100 }, 2000, 32)).toBe(MAX_STEPS_PER_ACTIVITY);
  });
  it('keeps the previous count when nothing was measured, and reads 0 ms as under 1 ms', () => {
    expect(adaptiveStepsPerActivity({ ms: 0, stepsRun: 0 }, 2000, 7)).toBe(7);
    expect(adaptiveStepsPerActivity({ ms: 0, stepsRun: 4 }, 2, 7)).toBe(8);
  });
});
