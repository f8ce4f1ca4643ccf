export { smoke } from './smoke.js';
export { generation, statusQuery } from './generation.js';
export { batch, batchStatusQuery } from './batch.js';
export { expiryWatch, webhook } from './webhook.js';
export { checkpointGc } from './gc.js';
