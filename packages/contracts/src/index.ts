export * from './names.js';
export * from './health.js';
