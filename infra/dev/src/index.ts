export * from './paths.js';
export * from './temporal.js';
export * from './ports.js';
export * from './s3.js';
export * from './worker-process.js';
export * from './webhook-receiver.js';
