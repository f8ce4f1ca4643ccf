import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CPU_TASK_QUEUE, WORKFLOWS, type BatchStatus, type BatchWorkflowInput } from '@oneflow/contracts';
import { REPO_ROOT, startWorkerProcess, type WorkerProcess } from '@oneflow/devstack';
import { decodeCheckpoint, encodeCheckpoint, initState, runGeneration } from '@oneflow/sampler';
import { describeModelDir, ModelRunner } from '@oneflow/runtime';

// Horizontal scaling on one machine: workers hold no state (Temporal holds the workflows, the
// shared checkpoint store the tensors), so a batch spreads over two worker processes and loses
// nothing when one of them dies.
const NAMESPACE = 'test-scale';
const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');
const dataDir = mkdtempSync(path.join(tmpdir(), 'oneflow-scale-'));
const SEEDS = [11, 12, 13, 14, 15, 16];
const settings = { steps: 24, guidance: 2, temperature: 0.7 };
const workers: WorkerProcess[] = [];
let connection: Connection;
let client: Client;
const reference = new Map<number, string>();

/** Final state encoded without its parent link: equal ids ⇔ bit-identical generations. */
function stateId(checkpointId: string): string {
  const bytes = readFileSync(path.join(dataDir, 'checkpoints', checkpointId.slice(0, 2), checkpointId));
  return encodeCheckpoint({ state: decodeCheckpoint(bytes, checkpointId).state, parent: null }).id;
}

async function metric(worker: WorkerProcess, name: string): Promise<number> {
  const text = await (await fetch(worker.ready.metrics!)).text();
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.reduce((a, b) => a + b, 0);
}

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: NAMESPACE });
  // In-process references, one per seed.
  const model = await describeModelDir(MODEL_DIR);
  const runner = await ModelRunner.start(model);
  try {
    const tokenizer = model.tokenizer;
    for (const seed of SEEDS) {
      const { state } = await runGeneration(
        runner,
        initState(tokenizer.prompt('count from two to five'), { ...model.defaults, ...settings }, model.spec, seed),
      );
      reference.set(seed, encodeCheckpoint({ state, parent: null }).id);
    }
  } finally {
    await runner.close();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill9()));
  await connection.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('two worker processes sharing the checkpoint store', () => {
  it('spread a batch over both; killing one mid-batch loses nothing', async () => {
    const start = () =>
      startWorkerProcess({
        address: inject('temporalAddress'),
        namespace: NAMESPACE,
        dataDir,
        models: [MODEL_DIR],
        env: { METRICS_PORT: '0', ACTIVITY_SLOTS: '2' },
      });
    const [a, b] = await Promise.all([start(), start()]);
    workers.push(a, b);

    const batchId = `scale-${Date.now()}`;
    const handle = await client.workflow.start(WORKFLOWS.batch, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: batchId,
      args: [
        {
          batchId,
          items: SEEDS.map((seed) => ({
            generationId: `${batchId}-${seed}`,
            root: { kind: 'new' as const, request: { model: 'tiny-model', prompt: 'count from two to five', seed, ...settings } },
          })),
          concurrency: SEEDS.length,
          stepsPerActivity: 2,
          heartbeatTimeoutSeconds: 3,
        } satisfies BatchWorkflowInput,
      ],
    });

    // both workers take steps…
    const deadline = Date.now() + 60_000;
    while ((await metric(a, 'oneflow_steps_total')) === 0 || (await metric(b, 'oneflow_steps_total')) === 0) {
      if (Date.now() > deadline) throw new Error('the batch did not reach both workers');
      await new Promise((r) => setTimeout(r, 50));
    }
    const bBefore = await metric(b, 'oneflow_steps_total');
    // …then one dies with generations in flight
    await a.kill9();

    const result = (await Promise.race([
      handle.result(),
      new Promise((_, reject) =>
        setTimeout(
          () => void handle.query<BatchStatus>('status').then((s) => reject(new Error(`batch stuck: ${JSON.stringify(s.counts)}`))),
          120_000,
        ),
      ),
    ])) as BatchStatus;
    expect(result.state).toBe('succeeded');
    expect(result.counts.succeeded).toBe(SEEDS.length);
    for (const [i, seed] of SEEDS.entries()) {
      const final = result.items[i]?.final;
      expect(final?.done).toBe(true);
      expect(stateId(final!.checkpointId)).toBe(reference.get(seed));
    }
    // the survivor did the rest of the work
    expect(await metric(b, 'oneflow_steps_total')).toBeGreaterThan(bBefore);
  }, 180_000);
});
