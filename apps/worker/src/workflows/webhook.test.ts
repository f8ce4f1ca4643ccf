import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CPU_TASK_QUEUE,
  WEBHOOK_EVENTS,
  WORKFLOWS,
  type GenerationResult,
  type GenerationWorkflowInput,
  type WebhookPayload,
} from '@oneflow/contracts';
import { WebhookReceiver } from '@oneflow/devstack';
import { LocalBlobStore } from '@oneflow/store';
import { CounterEngine } from '../testing/counter-engine.js';
import { HISTORIES_DIR } from '../testing/histories.js';
import { startInProcessWorker, type InProcessWorker } from '../testing/in-process-worker.js';
import { workflowsPath } from '../worker.js';

// Webhook delivery on the real dev server with a real worker (CounterEngine model side) and a real
// HTTP receiver: signed, retried with backoff, on success and on failure.
const NAMESPACE = 'test-webhook';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-webhook-'));
const engine = new CounterEngine(new LocalBlobStore(dir));
let worker: InProcessWorker;
let client: Client;

const receiver = new WebhookReceiver();

beforeAll(async () => {
  await receiver.start();
  worker = await startInProcessWorker({
    address: inject('temporalAddress'),
    namespace: NAMESPACE,
    engine,
    webhookSecrets: new Map([['acme', SECRET]]),
  });
  client = worker.client;
});
afterAll(async () => {
  await worker?.stop();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Generation workflows this file ran, by test name: replayed at the end (and recorded with RECORD_HISTORIES=1). */
const ran = new Map<string, string>();

async function start(
  input: Omit<GenerationWorkflowInput, 'generationId' | 'stepsPerActivity'>,
  deadlineMs?: number,
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const generationId = `gen-${randomUUID()}`;
  const handle = await client.workflow.start(WORKFLOWS.generation, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: generationId,
    ...(deadlineMs ? { workflowExecutionTimeout: deadlineMs } : {}),
    args: [{ generationId, stepsPerActivity: 3, ...input } satisfies GenerationWorkflowInput],
  });
  ran.set(expect.getState().currentTestName ?? generationId, generationId);
  return handle;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const target = () => ({ url: receiver.url, events: [...WEBHOOK_EVENTS] });
const deliveryOf = async (h: WorkflowHandle) => client.workflow.getHandle(`${h.workflowId}-webhook-${(await h.describe()).runId}`);

describe('webhook delivery', () => {
  it('POSTs a signed generation.succeeded, retried with backoff until the receiver accepts it', async () => {
    receiver.failFirst = 2;
    const h = await start({ root: { kind: 'new', request: { total: 5, seed: 3 } }, tenant: 'acme', webhook: target() });
    const result = (await h.result()) as GenerationResult;
    const got = await until('three attempts', () => receiver.of(h.workflowId).length >= 3 && receiver.of(h.workflowId));
    expect(got.map((r) => r.status)).toEqual([503, 503, 204]);
    // One message: the same id and body on every attempt, each attempt signed for its own timestamp.
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    const wh = new Webhook(SECRET);
    for (const r of got) expect(wh.verify(r.body, r.headers as Record<string, string>)).toEqual(JSON.parse(r.body));
    const ts = got.map((r) => Number(r.headers['webhook-timestamp']));
    expect(ts[2]! - ts[0]!).toBeGreaterThanOrEqual(2); // backoff: 1 s, then 2 s
    const event = JSON.parse(got[0]!.body) as WebhookPayload;
    expect(event.type).toBe('generation.succeeded');
    expect(event.data).toMatchObject({
      id: h.workflowId,
      state: 'succeeded',
      step: result.final.step,
      text: result.final.text,
      checkpointId: result.final.checkpointId,
      error: null,
    });
    await expect((await deliveryOf(h)).result()).resolves.toEqual({ status: 204, attempt: 3 });
    // A wrong secret does not verify.
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(got[2]!.body, got[2]!.headers as Record<string, string>),
    ).toThrow(/signature/);
  }, 60_000);

  it('POSTs generation.failed with the error when the generation fails', async () => {
    receiver.failFirst = 0;
    const h = await start({ root: { kind: 'new', request: { total: -1 } }, tenant: 'acme', webhook: target() });
    await expect(h.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const [got] = await until('a delivery', () => receiver.of(h.workflowId).length >= 1 && receiver.of(h.workflowId));
    expect(new Webhook(SECRET).verify(got!.body, got!.headers as Record<string, string>)).toMatchObject({
      type: 'generation.failed',
      data: { id: h.workflowId, state: 'failed', step: 0, checkpointId: null, error: expect.stringMatching(/total/) as unknown },
    });
  }, 60_000);

  it('sends only the events asked for', async () => {
    const h = await start({
      root: { kind: 'new', request: { total: 3 } },
      tenant: 'acme',
      webhook: { url: receiver.url, events: ['generation.failed'] },
    });
    await h.result();
    await expect((await deliveryOf(h)).describe()).rejects.toThrow(/not found/i);
    expect(receiver.of(h.workflowId)).toEqual([]);
  }, 60_000);

  it('a tenant without a secret: the delivery fails at once (not retried), the generation still succeeds', async () => {
    const h = await start({ root: { kind: 'new', request: { total: 3 } }, tenant: 'nobody', webhook: target() });
    await expect(h.result()).resolves.toMatchObject({ generationId: h.workflowId });
    const error: unknown = await (await deliveryOf(h)).result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('WebhookNotConfigured');
    expect(receiver.of(h.workflowId)).toEqual([]);
  }, 60_000);

  it('POSTs generation.expired when Temporal ends the generation at its deadline', async () => {
    receiver.failFirst = 0;
    engine.stepDelayMs = 200; // 100 steps: far past the 2 s deadline
    try {
      const deadlineAt = new Date(Date.now() + 2000).toISOString();
      const h = await start({ root: { kind: 'new', request: { total: 100 } }, tenant: 'acme', webhook: target(), deadlineAt }, 2000);
      const error: unknown = await h.result().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((await h.describe()).status.name).toBe('TIMED_OUT');
      const [got] = await until('the expired message', () => receiver.of(h.workflowId).length >= 1 && receiver.of(h.workflowId), 30_000);
      const event = new Webhook(SECRET).verify(got!.body, got!.headers as Record<string, string>) as WebhookPayload;
      expect(event).toMatchObject({
        type: 'generation.expired',
        data: { id: h.workflowId, state: 'expired', error: expect.stringMatching(/deadline/) as unknown },
      });
      expect(event.data.step).toBeGreaterThan(0);
      expect(event.data.checkpointId).toMatch(/^[0-9a-f]{64}$/);
      await expect(client.workflow.getHandle(`${h.workflowId}-expiry-${h.firstExecutionRunId}`).result()).resolves.toBe('delivered');
    } finally {
      engine.stepDelayMs = 0;
    }
  }, 60_000);

  it('the expiry watch of a generation that finished in time sends nothing', async () => {
    const h = await start(
      {
        root: { kind: 'new', request: { total: 3 } },
        tenant: 'acme',
        webhook: { url: receiver.url, events: ['generation.expired'] },
        deadlineAt: new Date(Date.now() + 1000).toISOString(),
      },
      60_000,
    );
    await h.result();
    await expect(client.workflow.getHandle(`${h.workflowId}-expiry-${h.firstExecutionRunId}`).result()).resolves.toBe('not expired');
    expect(receiver.of(h.workflowId)).toEqual([]);
  }, 60_000);

  // Every history above replays on the current code; RECORD_HISTORIES=1 keeps them for replay.test.ts.
  it('replays the histories of the generations above deterministically', async () => {
    const histories = await Promise.all(
      [...ran.values()].map(async (id) => ({ workflowId: id, history: await client.workflow.getHandle(id).fetchHistory() })),
    );
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'webhook.test' }, histories))
      if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
    if (process.env['RECORD_HISTORIES'] === '1') {
      mkdirSync(HISTORIES_DIR, { recursive: true });
      for (const [name, id] of ran) {
        const history = histories.find((h) => h.workflowId === id)?.history;
        if (history)
          writeFileSync(
            path.join(
              HISTORIES_DIR,
              `${name
                .replace(/[^a-z0-9]+/gi, '-')
                .replace(/^-|-$/g, '')
                .slice(0, 80)}.json`,
            ),
            historyToJSON(history),
          );
      }
    }
  }, 60_000);
});
