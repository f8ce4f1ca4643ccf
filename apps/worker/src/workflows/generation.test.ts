import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CPU_TASK_QUEUE,
  WORKFLOWS,
  type BatchStatus,
  type BatchWorkflowInput,
  type GenerationResult,
  type GenerationStatus,
  type GenerationWorkflowInput,
} from '@oneflow/contracts';
import { LocalBlobStore } from '@oneflow/store';
import { CounterEngine } from '../testing/counter-engine.js';
import { startInProcessWorker, type InProcessWorker } from '../testing/in-process-worker.js';
import { workflowsPath } from '../worker.js';
import { HISTORIES_DIR } from '../testing/histories.js';

// The generation workflow on the real dev server with a real worker; the model side is our
// deterministic CounterEngine over a real local blob store.
const NAMESPACE = 'test-generation';
const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-generation-'));
const engine = new CounterEngine(new LocalBlobStore(dir));
let worker: InProcessWorker;
let client: Client;

beforeAll(async () => {
  worker = await startInProcessWorker({ address: inject('temporalAddress'), namespace: NAMESPACE, engine });
  client = worker.client;
});
afterAll(async () => {
  await worker.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every workflow this file ran, by scenario: their histories are replayed at the end. */
const ran = new Map<string, string>();

async function start(input: Omit<GenerationWorkflowInput, 'generationId'>): Promise<WorkflowHandle> {
  const generationId = `gen-${randomUUID()}`;
  const handle = await client.workflow.start(WORKFLOWS.generation, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: generationId,
    args: [{ generationId, ...input } satisfies GenerationWorkflowInput],
  });
  ran.set(expect.getState().currentTestName ?? generationId, handle.workflowId);
  return handle;
}
const status = (h: WorkflowHandle) => h.query<GenerationStatus>('status');

/** The same generation run directly on the engine, no Temporal: the reference output. */
async function direct(total: number, seed: number): Promise<string> {
  let head = await engine.create({ total, seed });
  while (!head.done) head = await engine.advance(head.checkpointId);
  return head.text;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('generation workflow', () => {
  it('runs to the same output as a direct loop, with a checkpoint for every step', async () => {
    const handle = await start({ root: { kind: 'new', request: { total: 7, seed: 3 } }, stepsPerActivity: 3 });
    const result = (await handle.result()) as GenerationResult;
    expect(result.final.done).toBe(true);
    expect(result.final.step).toBe(7);
    expect(result.final.text).toBe(await direct(7, 3));
    expect(result.timings.activities).toBe(3); // 3 + 3 + 1 steps
    const chain = await engine.ancestry(result.final.checkpointId);
    expect(chain.map((c) => c.step)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    expect((await engine.describe(result.rootCheckpointId)).step).toBe(0);

    const final = await status(handle);
    expect(final).toMatchObject({ state: 'succeeded', step: 7, tText: 1, headCheckpointId: result.final.checkpointId });
    const description = await handle.describe();
    expect(description.searchAttributes['OneflowState']).toEqual(['succeeded']);
    expect(description.searchAttributes['OneflowStep']).toEqual([7]);
    expect(description.searchAttributes['OneflowModel']).toEqual(['counter']);
    expect(await description.memo?.['headCheckpointId']).toBe(result.final.checkpointId);
  });

  it('adapts the steps per activity to the measured step time (minActivityMs), from the recorded results', async () => {
    // steps of a few ms against a target of an hour: after the 2 measured steps, the rest at once
    const coarse = await start({ root: { kind: 'new', request: { total: 9, seed: 4 } }, stepsPerActivity: 2, minActivityMs: 3_600_000 });
    const a = (await coarse.result()) as GenerationResult;
    expect(a.final.text).toBe(await direct(9, 4));
    expect(a.timings.activities).toBe(2);
    // a target below one step's time: one step per activity after the first 3
    const fine = await start({ root: { kind: 'new', request: { total: 6, seed: 4 } }, stepsPerActivity: 3, minActivityMs: 0.001 });
    const b = (await fine.result()) as GenerationResult;
    expect(b.final.text).toBe(await direct(6, 4));
    expect(b.timings.activities).toBe(4);
    expect((await engine.ancestry(b.final.checkpointId)).map((c) => c.step)).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });

  it('continues as new without losing progress and ends with the same output', async () => {
    const handle = await start({ root: { kind: 'new', request: { total: 9, seed: 11 } }, stepsPerActivity: 2, continueAsNewEvery: 2 });
    const result = (await handle.result()) as GenerationResult;
    expect(result.final.text).toBe(await direct(9, 11));
    expect(result.timings.runs).toBe(3); // continue-as-new after activities 2 and 4
    expect(result.timings.activities).toBe(5);
    expect((await engine.ancestry(result.final.checkpointId)).length).toBe(10);
  });

  it('continues as new when its history reaches the event limit', async () => {
    const handle = await start({
      root: { kind: 'new', request: { total: 30, seed: 4 } },
      stepsPerActivity: 1,
      continueAsNewAfterEvents: 60,
    });
    const result = (await handle.result()) as GenerationResult;
    expect(result.final.text).toBe(await direct(30, 4));
    expect(result.timings.activities).toBe(30);
    expect(result.timings.runs).toBeGreaterThan(1);
    expect((await engine.ancestry(result.final.checkpointId)).length).toBe(31);
  });

  it('retries a failed activity from its last heartbeat instead of redoing steps', async () => {
    engine.failOnceAtStep = 4;
    const before = engine.advanceCalls;
    const handle = await start({ root: { kind: 'new', request: { total: 6, seed: 5 } }, stepsPerActivity: 6 });
    const result = (await handle.result()) as GenerationResult;
    expect(result.final.text).toBe(await direct(6, 5));
    // 6 successful steps + 1 failed attempt at step 4 (+ 6 for the reference run above)
    expect(engine.advanceCalls - before).toBe(6 + 1 + 6);
    expect(engine.failOnceAtStep).toBeNull();
  });

  it('answers the status query while running and cancels cleanly, keeping its newest checkpoint', async () => {
    engine.stepDelayMs = 150;
    try {
      const handle = await start({ root: { kind: 'new', request: { total: 200, seed: 1 } }, stepsPerActivity: 2 });
      await until('step 3', async () => (await status(handle)).step >= 3);
      const mid = await status(handle);
      expect(mid.state).toBe('running');
      expect(mid.tText).toBeCloseTo(mid.step / 200, 10);
      const callsAtCancel = engine.advanceCalls;
      await handle.cancel();
      const error: unknown = await handle.result().catch((e: unknown) => e);
      // The step loop stops between steps once the cancel reaches it through a heartbeat
      // (flushed every 250 ms): with 150 ms steps, the step in flight plus at most two more.
      expect(engine.advanceCalls - callsAtCancel).toBeLessThanOrEqual(3);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      const after = await status(handle);
      expect(after.state).toBe('canceled');
      expect(after.step).toBeGreaterThanOrEqual(mid.step);
      expect(after.step).toBeLessThan(200);
      expect(after.headCheckpointId).not.toBeNull();
      // the kept checkpoint is the newest step: nothing done after it was lost
      const head = await engine.describe(after.headCheckpointId ?? '');
      expect(head.step).toBe(after.step);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
    } finally {
      engine.stepDelayMs = 0;
    }
  });

  it('branches from any step: unchanged parameters reproduce the parent, a new seed diverges', async () => {
    const parent = (await (
      await start({ root: { kind: 'new', request: { total: 8, seed: 2 } }, stepsPerActivity: 4 })
    ).result()) as GenerationResult;
    const fromStep3 = {
      kind: 'checkpoint',
      checkpointId: parent.final.checkpointId,
      atStep: 3,
      parentGenerationId: parent.generationId,
    } as const;
    const sameHandle = await start({ root: fromStep3, stepsPerActivity: 4 });
    const same = (await sameHandle.result()) as GenerationResult;
    expect(same.final.text).toBe(parent.final.text);
    expect((await engine.describe(same.rootCheckpointId)).step).toBe(3);
    const other = (await (
      await start({ root: { ...fromStep3, overrides: { seed: 99 } }, stepsPerActivity: 4 })
    ).result()) as GenerationResult;
    expect(other.final.text.split(' ').slice(0, 3)).toEqual(parent.final.text.split(' ').slice(0, 3));
    expect(other.final.text).not.toBe(parent.final.text);
    // lineage is recorded and listable
    expect((await status(sameHandle)).parentGenerationId).toBe(parent.generationId);
    const children: string[] = [];
    await until('visibility', async () => {
      children.length = 0;
      for await (const wf of client.workflow.list({ query: `OneflowParentId = '${parent.generationId}'` })) children.push(wf.workflowId);
      return children.length === 2;
    });
    expect(children).toContain(sameHandle.workflowId);
  });

  it('refuses a step the chain does not have', async () => {
    const parent = (await (
      await start({ root: { kind: 'new', request: { total: 3, seed: 2 } }, stepsPerActivity: 4 })
    ).result()) as GenerationResult;
    const handle = await start({ root: { kind: 'checkpoint', checkpointId: parent.final.checkpointId, atStep: 9 }, stepsPerActivity: 4 });
    const error: unknown = await handle.result().catch((e: unknown) => e);
    expect(((error as WorkflowFailedError).cause?.cause as ApplicationFailure).type).toBe('BadRequest');
  });

  it('resumes a canceled generation from its newest checkpoint to the uninterrupted output', async () => {
    engine.stepDelayMs = 100;
    let handle: WorkflowHandle;
    try {
      handle = await start({ root: { kind: 'new', request: { total: 12, seed: 8 } }, stepsPerActivity: 2 });
      await until('step 4', async () => (await status(handle)).step >= 4);
      await handle.cancel();
      await handle.result().catch(() => undefined);
    } finally {
      engine.stepDelayMs = 0;
    }
    const canceled = await status(handle);
    expect(canceled.state).toBe('canceled');
    // a new run of the same generation id, rooted at the kept checkpoint
    const resumed = await client.workflow.start(WORKFLOWS.generation, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: handle.workflowId,
      args: [
        {
          generationId: handle.workflowId,
          root: { kind: 'resume', checkpointId: canceled.headCheckpointId ?? '' },
          stepsPerActivity: 2,
        } satisfies GenerationWorkflowInput,
      ],
    });
    const result = (await resumed.result()) as GenerationResult;
    expect(result.rootCheckpointId).toBe(canceled.headCheckpointId);
    expect(result.final.text).toBe(await direct(12, 8));
  });

  it('runs a batch with bounded concurrency; items fail independently', async () => {
    const batchId = `batch-${randomUUID()}`;
    const seeds = [1, 2, 3, 4];
    const items = [
      ...seeds.map((seed) => ({ generationId: `${batchId}-${seed}`, root: { kind: 'new' as const, request: { total: 4, seed } } })),
      { generationId: `${batchId}-bad`, root: { kind: 'new' as const, request: { total: 0 } } },
    ];
    const handle = await client.workflow.start(WORKFLOWS.batch, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: batchId,
      args: [{ batchId, items, concurrency: 2, stepsPerActivity: 2 } satisfies BatchWorkflowInput],
    });
    ran.set('batch', batchId);
    const result = (await handle.result()) as BatchStatus;
    expect(result.state).toBe('partial');
    expect(result.counts).toMatchObject({ succeeded: 4, failed: 1, queued: 0, running: 0 });
    for (const [i, seed] of seeds.entries()) expect(result.items[i]?.final?.text).toBe(await direct(4, seed));
    expect(result.items[4]?.error).toMatch(/total/);
    // the children carry the batch id and can be listed by it
    const listed: string[] = [];
    await until('visibility', async () => {
      listed.length = 0;
      for await (const wf of client.workflow.list({ query: `OneflowBatchId = '${batchId}' AND WorkflowType = 'generation'` }))
        listed.push(wf.workflowId);
      return listed.length === 5;
    });
    expect(listed.sort()).toEqual(items.map((it) => it.generationId).sort());
  });

  it('cancels a batch: running children are canceled, queued ones never start', async () => {
    engine.stepDelayMs = 100;
    try {
      const batchId = `batch-${randomUUID()}`;
      const items = [1, 2, 3, 4].map((seed) => ({
        generationId: `${batchId}-${seed}`,
        root: { kind: 'new' as const, request: { total: 50, seed } },
      }));
      const handle = await client.workflow.start(WORKFLOWS.batch, {
        taskQueue: CPU_TASK_QUEUE,
        workflowId: batchId,
        args: [{ batchId, items, concurrency: 2, stepsPerActivity: 2 } satisfies BatchWorkflowInput],
      });
      await until('two running', async () => (await handle.query<BatchStatus>('status')).counts.running === 2);
      await handle.cancel();
      await handle.result().catch(() => undefined);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      const final = await handle.query<BatchStatus>('status');
      expect(final.state).toBe('canceled');
      expect(final.counts).toMatchObject({ canceled: 4, running: 0, queued: 0, succeeded: 0 });
      const first = await client.workflow.getHandle(`${batchId}-1`).describe();
      expect(first.status.name).toBe('CANCELLED');
      await expect(client.workflow.getHandle(`${batchId}-4`).describe()).rejects.toThrow(/not found/i);
    } finally {
      engine.stepDelayMs = 0;
    }
  });

  it('fails fast on a bad request (non-retryable), in a failed state', async () => {
    const handle = await start({ root: { kind: 'new', request: { total: -1 } }, stepsPerActivity: 2 });
    const error: unknown = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('BadRequest');
    const s = await status(handle);
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/total/);
  });

  // Last in the file: every history above must replay on the current workflow code. With
  // RECORD_HISTORIES=1 they are also saved as fixtures that replay.test.ts keeps replaying.
  it('replays the recorded histories of the workflows above deterministically', async () => {
    expect(ran.size).toBeGreaterThanOrEqual(8);
    const histories = await Promise.all(
      [...ran.values()].map(async (id) => ({ workflowId: id, history: await client.workflow.getHandle(id).fetchHistory() })),
    );
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'generation.test' }, histories)) results.push(r);
    expect(results.filter((r) => r.error !== undefined).map((r) => `${r.workflowId}: ${String(r.error)}`)).toEqual([]);
    expect(results).toHaveLength(ran.size);
    if (process.env['RECORD_HISTORIES'] === '1') {
      mkdirSync(HISTORIES_DIR, { recursive: true });
      for (const [name, id] of ran) {
        const file = path.join(
          HISTORIES_DIR,
          `${name
            .replace(/[^a-z0-9]+/gi, '-')
            .replace(/^-|-$/g, '')
            .slice(0, 80)}.json`,
        );
        const history = histories.find((h) => h.workflowId === id)?.history;
        if (history) writeFileSync(file, historyToJSON(history));
      }
    }
  });
});
