export { smoke } from './smoke.js';
export { generation, statusQuery } from './generation.js';
export { batch, batchStatusQuery } from './batch.js';
export { webhook } from './webhook.js';
