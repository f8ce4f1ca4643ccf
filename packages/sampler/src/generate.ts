import { performance } from 'node:perf_hooks';
import { type SamplerState, isDone } from './state.js';
import { type StepOutputs, step } from './step.js';

/** Anything that gives a state's step outputs: the worker-thread {@link ModelRunner}, or a test double. */
export interface StepModel {
  stepOutputs(state: SamplerState): Promise<StepOutputs>;
}

export interface StepTiming {
  /** Waiting for the model's outputs: queueing, batching, the forward pass and thread transfer (ms). */
  modelMs: number;
  /** The sampler's own work on the main thread: `step` (ms). */
  hostMs: number;
}

export interface GenerationTimings {
  steps: number;
  modelMs: number;
  hostMs: number;
  totalMs: number;
}

/**
 * Samples from `init` until the stop rule holds (or `maxSteps` more steps), with the state's own
 * seeded RNG. Deterministic in `init` given the model's outputs. `onStep` sees every new state.
 */
export async function runGeneration(
  model: StepModel,
  init: SamplerState,
  opts: { onStep?: (s: SamplerState, t: StepTiming) => void; maxSteps?: number } = {},
): Promise<{ state: SamplerState; timings: GenerationTimings }> {
  const t0 = performance.now();
  const timings: GenerationTimings = { steps: 0, modelMs: 0, hostMs: 0, totalMs: 0 };
  let s = init;
  const limit = opts.maxSteps ?? Infinity;
  while (!isDone(s) && timings.steps < limit) {
    const a = performance.now();
    const out = await model.stepOutputs(s);
    const b = performance.now();
    s = step(s, out);
    const c = performance.now();
    timings.steps++;
    timings.modelMs += b - a;
    timings.hostMs += c - b;
    opts.onStep?.(s, { modelMs: b - a, hostMs: c - b });
  }
  timings.totalMs = performance.now() - t0;
  return { state: s, timings };
}
