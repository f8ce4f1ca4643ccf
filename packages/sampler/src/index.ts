export * from './model/onnx.js';
export * from './rng.js';
export * from './state.js';
export * from './guidance.js';
export * from './step.js';
export * from './batch.js';
export * from './checkpoint.js';
export * from './refine.js';
