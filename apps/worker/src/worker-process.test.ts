import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CPU_TASK_QUEUE,
  WORKFLOWS,
  type GenerationRequest,
  type GenerationResult,
  type GenerationStatus,
  type GenerationWorkflowInput,
} from '@oneflow/contracts';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  freePort,
  REPO_ROOT,
  startLocalS3,
  startTemporalDev,
  startWorkerProcess,
  stopTemporalDev,
  type WorkerProcess,
} from '@oneflow/devstack';
import { S3BlobStore } from '@oneflow/store';
import { checkpointIdOf } from './sampler-engine.js';
import { decodeCheckpoint, encodeCheckpoint } from '@oneflow/sampler';

// Real worker processes (the README's worker entry point) on the real dev server, with a real
// ONNX model through onnxruntime-node: a small randomly-initialised model exported by training/.
const NAMESPACE = 'test-worker-process';
const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');
const dataDir = mkdtempSync(path.join(tmpdir(), 'oneflow-worker-process-'));
const request: GenerationRequest = {
  model: 'tiny-model',
  prompt: 'draw a seven',
  seed: 1234,
  steps: 24,
  guidance: 2,
  imageGuidance: 3,
  temperature: 0.7,
};

let connection: Connection;
let client: Client;
const workers = new Set<WorkerProcess>();

async function startWorker(
  address: string = inject('temporalAddress'),
  namespace = NAMESPACE,
  env: NodeJS.ProcessEnv = {},
): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({ address, namespace, dataDir, models: [MODEL_DIR], env });
  workers.add(worker);
  return worker;
}

/** The final state's encoding without its parent link: equal bytes ⇔ bit-identical generations. */
function finalStateId(checkpointId: string): string {
  const file = path.join(dataDir, 'checkpoints', checkpointId.slice(0, 2), checkpointId);
  const { state } = decodeCheckpoint(readFileSync(file), checkpointId);
  return encodeCheckpoint({ state, parent: null }).id;
}

let reference: { stateId: string; text: string; steps: number };

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: NAMESPACE });
  // The reference: the in-process CLI (`oneflow generate`, no Temporal) with the same model,
  // prompt, settings and seed.
  const out = path.join(dataDir, 'cli');
  const cli = spawnSync(
    process.execPath,
    [
      'packages/runtime/bin/oneflow.js',
      'generate',
      '--prompt',
      'draw a seven',
      '--model',
      MODEL_DIR,
      '--seed',
      '1234',
      '--steps',
      '24',
      '--guidance',
      '2',
      '--image-guidance',
      '3',
      '--temperature',
      '0.7',
      '--out',
      out,
      '--json',
    ],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  if (cli.status !== 0) throw new Error(`oneflow generate failed (${String(cli.status)}):\n${cli.stderr}`);
  const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as { text: string; steps: number };
  const { state } = decodeCheckpoint(readFileSync(path.join(out, 'final.ckpt')));
  reference = { stateId: encodeCheckpoint({ state, parent: null }).id, text: result.text, steps: result.steps };
}, 60_000);

afterAll(async () => {
  await Promise.all([...workers].map((w) => w.kill9()));
  await connection.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Waits until the generation's head reached `step`; fails with its status if it ended or stalled. */
async function untilStep(handle: WorkflowHandle, step: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const status = await handle.query<GenerationStatus>('status');
    if (status.step >= step) return;
    if (status.state !== 'running' || Date.now() > deadline)
      throw new Error(`generation did not reach step ${step}: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function startGeneration(on: Client = client) {
  const generationId = `gen-${randomUUID()}`;
  return on.workflow.start(WORKFLOWS.generation, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: generationId,
    args: [
      {
        generationId,
        root: { kind: 'new', request },
        stepsPerActivity: 2,
        heartbeatTimeoutSeconds: 3,
      } satisfies GenerationWorkflowInput,
    ],
  });
}

describe('worker process', () => {
  it('runs a generation to the same final state as the in-process CLI with the same seed', async () => {
    const worker = await startWorker();
    try {
      const result = (await (await startGeneration()).result()) as GenerationResult;
      expect(result.final.done).toBe(true);
      expect(result.final.step).toBe(reference.steps);
      expect(result.final.text).toBe(reference.text);
      expect(finalStateId(result.final.checkpointId)).toBe(reference.stateId);
    } finally {
      await worker.kill9();
    }
  }, 120_000);

  it('refines: re-noising an image of a finished generation and sampling again changes that image only', async () => {
    const worker = await startWorker();
    try {
      const parent = (await (await startGeneration()).result()) as GenerationResult;
      expect(parent.final.imageClocks.length).toBeGreaterThan(0);
      const generationId = `gen-${randomUUID()}`;
      const refined = (await client.workflow.execute(WORKFLOWS.generation, {
        taskQueue: CPU_TASK_QUEUE,
        workflowId: generationId,
        args: [
          {
            generationId,
            root: {
              kind: 'checkpoint',
              checkpointId: parent.final.checkpointId,
              refine: { op: 'renoiseImage', image: 0, to: 0.5 },
              parentGenerationId: parent.generationId,
            },
            stepsPerActivity: 4,
          } satisfies GenerationWorkflowInput,
        ],
      })) as GenerationResult;
      expect(refined.final.done).toBe(true);
      expect(refined.final.text).toBe(parent.final.text); // text was finished: nothing to insert
      const load = (id: string) => decodeCheckpoint(readFileSync(path.join(dataDir, 'checkpoints', id.slice(0, 2), id)), id).state;
      const root = load(refined.rootCheckpointId);
      expect(root.images.at(-parent.final.imageClocks.length)?.t).toBe(0.5);
      const [before, after] = [load(parent.final.checkpointId), load(refined.final.checkpointId)];
      const k0 = before.images.length - parent.final.imageClocks.length; // prompt images come first
      expect(Buffer.from(after.images[k0]!.latent.buffer).equals(Buffer.from(before.images[k0]!.latent.buffer))).toBe(false);
      for (let j = k0 + 1; j < before.images.length; j++) {
        expect(Buffer.from(after.images[j]!.latent.buffer).equals(Buffer.from(before.images[j]!.latent.buffer))).toBe(true);
      }
    } finally {
      await worker.kill9();
    }
  }, 120_000);

  it('survives kill -9 of the worker at random steps: a new worker finishes it, byte-identical', async () => {
    const killAt = [1 + Math.floor(Math.random() * 6), 8 + Math.floor(Math.random() * 6), 15 + Math.floor(Math.random() * 6)];
    console.log(`crash test: killing the worker at steps ${killAt.join(', ')}`);
    let worker = await startWorker();
    let result: GenerationResult;
    try {
      const handle = await startGeneration();
      for (const step of killAt) {
        await untilStep(handle, step);
        await worker.kill9();
        worker = await startWorker();
      }
      result = (await handle.result()) as GenerationResult;
    } finally {
      await worker.kill9(); // a failed attempt must not leave a worker polling this file's namespace
    }
    expect(result.final.step).toBe(reference.steps);
    expect(result.final.text).toBe(reference.text);
    expect(finalStateId(result.final.checkpointId)).toBe(reference.stateId);
  }, 240_000);

  it('survives a restart of the Temporal server mid-generation (SQLite store kept)', async () => {
    const serverDir = mkdtempSync(path.join(tmpdir(), 'oneflow-restart-'));
    const port = await freePort();
    const server = await startTemporalDev({ dataDir: serverDir, port, uiPort: null });
    const conn = await Connection.connect({ address: server.address });
    const worker = await startWorker(server.address, 'default');
    try {
      const own = new Client({ connection: conn });
      const handle = await startGeneration(own);
      await untilStep(handle, 6);
      await stopTemporalDev(serverDir);
      await new Promise((r) => setTimeout(r, 1000));
      await startTemporalDev({ dataDir: serverDir, port, uiPort: null });
      const result = (await handle.result()) as GenerationResult;
      expect(result.final.step).toBe(reference.steps);
      expect(finalStateId(result.final.checkpointId)).toBe(reference.stateId);
    } finally {
      await worker.kill9();
      await conn.close();
      await stopTemporalDev(serverDir);
      rmSync(serverDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('shuts down gracefully on SIGTERM mid-generation, reports metrics, and works on the S3 store', async () => {
    const s3 = await startLocalS3();
    const s3Env = {
      ONEFLOW_S3_BUCKET: 'oneflow-ckpt',
      ONEFLOW_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      METRICS_PORT: '0',
    };
    const raw = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const store = new S3BlobStore({
      bucket: 'oneflow-ckpt',
      prefix: 'checkpoints/',
      idOf: checkpointIdOf,
      client: {
        endpoint: s3.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      },
    });
    try {
      await raw.send(new CreateBucketCommand({ Bucket: 'oneflow-ckpt' }));
      const first = await startWorker(undefined, undefined, s3Env);
      const { ready } = first;
      expect(ready.store).toBe('s3://oneflow-ckpt/checkpoints/');
      expect(ready.models).toEqual(['tiny-model']);
      const handle = await startGeneration();
      await untilStep(handle, 6);

      const metrics = await (await fetch(ready.metrics!)).text();
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      expect(value('oneflow_steps_total')).toBeGreaterThanOrEqual(6);
      expect(value('oneflow_step_seconds_count')).toBeGreaterThanOrEqual(6);
      expect(value('oneflow_model_rows_total')).toBeGreaterThanOrEqual(2 * 6); // guided: two rows a step
      expect(value('oneflow_model_batches_total')).toBeGreaterThanOrEqual(6);
      expect(value('oneflow_activity_queue_wait_seconds_count')).toBeGreaterThanOrEqual(1);

      const t0 = Date.now();
      expect(await first.stop()).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(first.log()).toContain('"worker stopped"');

      const second = await startWorker(undefined, undefined, s3Env);
      const result = (await handle.result()) as GenerationResult;
      await second.kill9();
      const { state } = decodeCheckpoint(await store.get(result.final.checkpointId), result.final.checkpointId);
      expect(encodeCheckpoint({ state, parent: null }).id).toBe(reference.stateId);
    } finally {
      store.destroy();
      raw.destroy();
      await s3.stop();
    }
  }, 180_000);
});
