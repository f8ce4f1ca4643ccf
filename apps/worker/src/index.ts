export { createActivities, type Activities, type ActivityDeps } from './activities/index.js';
export { createWorkers, workflowsPath, type WorkerSet } from './worker.js';
export { workerEnvSchema, type WorkerEnv } from './env.js';
