import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CHECKPOINT_GC_SCHEDULE_ID,
  CPU_TASK_QUEUE,
  newestCheckpointOf,
  parseGenerationMemo,
  WORKFLOWS,
  type GenerationResult,
  type GenerationStatus,
  type GenerationWorkflowInput,
} from '@oneflow/contracts';
import { generationCheckpoints, RetentionRecords, type Link } from '@oneflow/engine';
import { LocalBlobStore } from '@oneflow/store';
import type { GcReport, GenerationRecord } from './collector.js';
import { collectCheckpoints } from './collector.js';
import { retentionPolicySchema } from './policy.js';
import { createCollector, ensureGcSchedule } from './setup.js';
import { temporalGenerations } from './temporal-generations.js';
import { CounterEngine } from '../testing/counter-engine.js';
import { startInProcessWorker, type InProcessWorker } from '../testing/in-process-worker.js';

// The collector against real generations on the dev server (CounterEngine checkpoints in a real
// local store), the checkpointGc workflow and its schedule on a real worker.
const NAMESPACE = 'test-gc';
const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-gc-temporal-'));
const store = new LocalBlobStore(dir);
const engine = new CounterEngine(store, { stepDelayMs: 15 });
const links: { snapshot(id: string): Promise<Link | null> } = { snapshot: (id) => engine.describe(id).catch(() => null) };
const policy = retentionPolicySchema.parse({ keepAllHours: 24, keepEvery: 10, graceMinutes: 1 });
const logger = pino({ level: 'silent' });
let worker: InProcessWorker;

beforeAll(async () => {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const client = new Client({ connection, namespace: NAMESPACE });
  worker = await startInProcessWorker({
    address: inject('temporalAddress'),
    namespace: NAMESPACE,
    engine,
    collector: createCollector({ store, client, links, policy, logger }),
  });
});
afterAll(async () => {
  await worker.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Two days from now: every blob is past the 24 h window and the grace period, so only reachability protects it. */
const later = () => new Date(Date.now() + 2 * 86_400_000);

async function start(root: GenerationWorkflowInput['root'], stepsPerActivity = 5): Promise<WorkflowHandle> {
  const generationId = `gen-${randomUUID()}`;
  return worker.client.workflow.start(WORKFLOWS.generation, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: generationId,
    args: [{ generationId, root, stepsPerActivity, tenant: 'acme' } satisfies GenerationWorkflowInput],
  });
}

async function reference(total: number, seed: number): Promise<string> {
  const other = new CounterEngine(new LocalBlobStore(mkdtempSync(path.join(dir, 'ref-'))));
  let head = await other.create({ total, seed });
  while (!head.done) head = await other.advance(head.checkpointId);
  return head.text;
}

const gc = (extra: Partial<Parameters<typeof collectCheckpoints>[0]> = {}) =>
  collectCheckpoints({ store, links, generations: temporalGenerations(worker.client), policy, now: later, ...extra });

async function keptSteps(generationId: string, result: GenerationResult): Promise<number[]> {
  const index = await new RetentionRecords(store.records).index(generationId);
  const found = await generationCheckpoints(links, result.final.checkpointId, result.rootCheckpointId, index);
  return found.kept.map((k) => k.step);
}

/** Waits until the running generation has reached `step`. */
async function reachStep(handle: WorkflowHandle, step: number): Promise<void> {
  while ((await handle.query<GenerationStatus>('status')).step < step) await new Promise((r) => setTimeout(r, 20));
}

describe('checkpoint collection with real generations', () => {
  it('a sweep while a generation runs leaves it to finish bit-identically; the next one thins it to the policy', async () => {
    const handle = await start({ kind: 'new', request: { total: 40, seed: 11 } });
    await reachStep(handle, 12);
    const during = await gc();
    expect(during.generations).toBe(1);
    const result = (await handle.result()) as GenerationResult;
    expect(result.final.text).toBe(await reference(40, 11));
    const after = await gc();
    expect(after.blobs.reclaimed).toBeGreaterThan(30);
    expect(await keptSteps(handle.workflowId, result)).toEqual([0, 10, 20, 30, 40]);
  });

  it('a branch started while a sweep runs keeps the checkpoint it starts from', async () => {
    const a = await start({ kind: 'new', request: { total: 25, seed: 12 } }, 25);
    const aResult = (await a.result()) as GenerationResult;
    const baseId = (await generationCheckpoints(links, aResult.final.checkpointId, aResult.rootCheckpointId, null)).kept.find(
      (k) => k.step === 13,
    )!.checkpointId;
    const source = temporalGenerations(worker.client);
    let branch: WorkflowHandle | undefined;
    const report = await gc({
      batchSize: 5,
      generations: {
        all: () => source.all(),
        // The branch is created after the mark, before the first deletion batch.
        async startedSince(t) {
          branch ??= await start({ kind: 'checkpoint', checkpointId: baseId, overrides: { seed: 99 }, parentGenerationId: a.workflowId });
          return source.startedSince(t);
        },
      },
    });
    expect(report.blobs.reclaimed).toBeGreaterThan(10);
    expect(await store.has(baseId)).toBe(true);
    const b = (await branch!.result()) as GenerationResult;
    expect(b.final.done).toBe(true);
    // The next run records the branch point in the source generation's index.
    await gc();
    expect(await keptSteps(a.workflowId, aResult)).toEqual([0, 10, 13, 20, 25]);
  });

  it('a listing that lags behind (visibility) is not trusted: a generation it still calls running is read from the run itself', async () => {
    const handle = await start({ kind: 'new', request: { total: 30, seed: 13 } });
    await reachStep(handle, 10);
    // The listing as visibility had it mid-run, handed to the collector after the run finished.
    let stale: WorkflowExecutionInfo | undefined;
    while (!stale) {
      for await (const e of worker.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) stale = e;
      if (!stale) await new Promise((r) => setTimeout(r, 20));
    }
    const result = (await handle.result()) as GenerationResult;
    expect(stale.status.name).toBe('RUNNING');
    expect(newestCheckpointOf(parseGenerationMemo(stale.memo))).not.toBe(result.final.checkpointId);
    // Visibility as it might still answer: this generation's row from mid-run, every other one as it is.
    const source = temporalGenerations(worker.client, async function* (query) {
      for await (const e of worker.client.workflow.list({ query })) yield e.workflowId === handle.workflowId ? stale : e;
    });
    const records: GenerationRecord[] = [];
    for await (const g of source.all()) if (g.id === handle.workflowId) records.push(g);
    expect(records).toMatchObject([{ id: handle.workflowId, open: false, headId: result.final.checkpointId }]);
    await gc({ generations: source });
    expect(await store.has(result.final.checkpointId)).toBe(true);
    expect(await keptSteps(handle.workflowId, result)).toEqual([0, 10, 20, 30]);
  });
});

describe('the retention schedule', () => {
  it('is created once, updated when its cron changes, and its runs are checkpointGc workflows that report', async () => {
    const client = worker.client;
    expect(await ensureGcSchedule(client, '17 * * * *')).toBe('created');
    expect(await ensureGcSchedule(client, '17 * * * *')).toBe('unchanged');
    expect(await ensureGcSchedule(client, '47 3 * * *')).toBe('replaced');
    const handle = client.schedule.getHandle(CHECKPOINT_GC_SCHEDULE_ID);
    const described = await handle.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: WORKFLOWS.checkpointGc, taskQueue: CPU_TASK_QUEUE });
    await handle.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 200 && !workflowId; i++) {
      workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 50));
    }
    const report = (await client.workflow.getHandle(workflowId!).result()) as GcReport;
    expect(report.dryRun).toBe(false);
    expect(report.generations).toBeGreaterThanOrEqual(3);
    expect(report.blobs.reclaimed).toBe(0); // real time: everything is inside the grace period
    expect(report.blobs.total).toBe(report.blobs.kept);
    expect(await ensureGcSchedule(client, 'off')).toBe('deleted');
  });
});
