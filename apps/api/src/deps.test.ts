import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeModelDir } from '@oneflow/runtime';
import { encodeCheckpoint, initState } from '@oneflow/sampler';
import { REPO_ROOT, startLocalS3, type LocalS3Server } from '@oneflow/devstack';
import { DEFAULT_MIN_ACTIVITY_MS } from '@oneflow/contracts';
import { apiEnvSchema } from './env.js';
import { checkpointStoreFromEnv, createJobDeps } from './deps.js';

const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');

// The API reads checkpoints from the store the worker writes: here an S3-compatible one (moto).
describe('checkpoint store from the environment', () => {
  let s3: LocalS3Server;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  beforeAll(async () => {
    s3 = await startLocalS3();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    // moto creates a bucket on a plain path-style PUT.
    expect((await fetch(`${s3.endpoint}/oneflow-api-ckpt`, { method: 'PUT' })).ok).toBe(true);
  });
  afterAll(async () => {
    await s3?.stop();
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  it('reads a checkpoint the worker stored in S3 (ONEFLOW_S3_*)', async () => {
    const env = apiEnvSchema.parse({ ONEFLOW_S3_BUCKET: 'oneflow-api-ckpt', ONEFLOW_S3_ENDPOINT: s3.endpoint });
    const store = checkpointStoreFromEnv(env);
    expect(store.location).toBe('s3://oneflow-api-ckpt/checkpoints/');
    const config = await describeModelDir(MODEL_DIR);
    const state = initState(config.tokenizer.prompt('draw a seven'), config.defaults, config.spec, 42);
    const { id, bytes } = encodeCheckpoint({ state, parent: null });
    expect(await store.put(bytes)).toBe(id);
    const jobs = await createJobDeps({ dataDir: '/nonexistent', models: MODEL_DIR, store, stepsPerActivity: 4 });
    const snap = await jobs.checkpoints.snapshot(id);
    expect(snap).toMatchObject({
      checkpointId: id,
      model: 'tiny-model',
      step: 0,
      done: false,
      parentId: null,
      steps: config.defaults.steps,
    });
    expect(await jobs.checkpoints.snapshot('f'.repeat(64))).toBeNull();
  });

  it('defaults to <data dir>/checkpoints', () => {
    const store = checkpointStoreFromEnv(apiEnvSchema.parse({ ONEFLOW_DATA_DIR: '/tmp/x' }));
    expect(store.location).toBe('file:///tmp/x/checkpoints');
  });
});

describe('steps per activity from the environment', () => {
  it('adapts by default (DEFAULT_MIN_ACTIVITY_MS), MIN_ACTIVITY_MS=0 fixes it, bad values are refused', async () => {
    expect(apiEnvSchema.parse({}).MIN_ACTIVITY_MS).toBe(DEFAULT_MIN_ACTIVITY_MS);
    expect(apiEnvSchema.parse({ MIN_ACTIVITY_MS: '500' }).MIN_ACTIVITY_MS).toBe(500);
    expect(apiEnvSchema.safeParse({ MIN_ACTIVITY_MS: '-1' }).success).toBe(false);
    expect(apiEnvSchema.safeParse({ MIN_ACTIVITY_MS: 'soon' }).success).toBe(false);
    const fixed = await createJobDeps({ dataDir: '/nonexistent', models: MODEL_DIR, stepsPerActivity: 4, minActivityMs: 0 });
    expect(fixed).not.toHaveProperty('minActivityMs');
    const adaptive = await createJobDeps({ dataDir: '/nonexistent', models: MODEL_DIR, stepsPerActivity: 4, minActivityMs: 2000 });
    expect(adaptive.minActivityMs).toBe(2000);
  });
});
