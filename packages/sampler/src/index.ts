// The OneFlow sampler, pure TypeScript: state, step, guidance, RNG, checkpoint codec, refinement,
// initial states. Models run elsewhere (@oneflow/runtime); nothing here loads native code.
export * from './rng.js';
export * from './state.js';
export * from './guidance.js';
export * from './step.js';
export * from './checkpoint.js';
export * from './refine.js';
export * from './init.js';
export * from './generate.js';
