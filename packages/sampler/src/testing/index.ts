// Test helpers shared with other packages' tests: golden vectors from the Python reference and
// property-test generators. Exported as `@oneflow/sampler/testing`; never imported by runtime code.
export * from './golden.js';
export * from './arbitraries.js';
