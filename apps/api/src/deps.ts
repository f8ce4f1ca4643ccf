import path from 'node:path';
import { CheckpointOwners, CheckpointReader, CheckpointStore, RetentionRecords } from '@oneflow/engine';
import { checkpointIdOf } from '@oneflow/sampler';
import { LocalBlobStore, storeFromSettings, type BlobStore, type StoreSettings } from '@oneflow/store';
import { RateLimiter } from './auth.js';
import type { JobDeps } from './context.js';
import { ModelCatalog, modelDirs } from './models.js';

/** The worker's checkpoint store as the same environment describes it: S3 with `ONEFLOW_S3_BUCKET`, else `<data dir>/checkpoints`. */
export function checkpointStoreFromEnv(env: StoreSettings): BlobStore {
  return storeFromSettings(env, checkpointIdOf);
}

/**
 * The job API's dependencies: the worker's checkpoint store (`<dataDir>/checkpoints`, or any
 * store using `checkpointIdOf`), the models' config.json files, limits.
 */
export async function createJobDeps(options: {
  dataDir: string;
  /** Comma-separated model directories (as `ONEFLOW_MODELS`); default every `models/*`. */
  models?: string | undefined;
  store?: BlobStore;
  ratePerMinute?: number;
  stepsPerActivity: number;
  /** Adaptive steps per activity (GenerationWorkflowInput.minActivityMs); absent or 0: fixed. */
  minActivityMs?: number | undefined;
  watchIntervalMs?: number;
  /** Tenants that have a webhook signing secret (`webhookSecretsFromConfig`). */
  webhookTenants?: Iterable<string>;
}): Promise<JobDeps> {
  const models = await ModelCatalog.load(modelDirs(options.models));
  const store = options.store ?? new LocalBlobStore(path.resolve(options.dataDir, 'checkpoints'), { idOf: checkpointIdOf });
  return {
    checkpoints: new CheckpointReader(new CheckpointStore(store, 1024), models.byModelName()),
    models,
    retention: new RetentionRecords(store.records),
    owners: new CheckpointOwners(store.records),
    stepsPerActivity: options.stepsPerActivity,
    ...(options.minActivityMs ? { minActivityMs: options.minActivityMs } : {}),
    watchIntervalMs: options.watchIntervalMs ?? 200,
    limiter: new RateLimiter(options.ratePerMinute ?? 1200),
    webhookTenants: new Set(options.webhookTenants ?? []),
  };
}
