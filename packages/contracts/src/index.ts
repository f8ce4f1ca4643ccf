export * from './names.js';
export * from './health.js';
export * from './generation.js';
export * from './search-attribute-keys.js';
export * from './webhook.js';
export * from './memo.js';
export * from './models.js';
