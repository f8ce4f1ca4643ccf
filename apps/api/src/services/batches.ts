import { setTimeout as sleep } from 'node:timers/promises';
import { TRPCError } from '@trpc/server';
import type { BatchStatus, BatchWorkflowInput, GenerationRequest, WebhookRequest } from '@oneflow/contracts';
import { InvalidInputError } from '@oneflow/engine';
import type { BatchView, BatchViewState } from '../outputs.js';
import { listedState } from './generations.js';
import { describeOwned } from './ownership.js';
import type { JobScope } from './scope.js';
import { asBadRequest, canonicalJson, jobId, sha256, startJob, webhookTarget } from './starter.js';
import { stateOfStatus, type Execution, type Workflows } from './workflows.js';

/** The batch's items as visibility lists them (eventually consistent; items not started yet are missing). */
async function batchStatusFromVisibility(workflows: Workflows, e: Execution): Promise<BatchStatus> {
  const items: BatchStatus['items'] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 5; page++) {
    const res = await workflows.list({ type: 'generation', batchId: e.id }, 100, cursor);
    for (const r of res.rows) items.push({ generationId: r.id, state: listedState(r), final: null, error: null });
    if (!res.nextCursor) break;
    cursor = res.nextCursor;
  }
  const counts = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0, expired: 0 };
  for (const it of items) counts[it.state] += 1;
  const state = (['running', 'succeeded', 'partial', 'failed', 'canceled'] as const).find((x) => x === e.publishedState) ?? 'running';
  return {
    batchId: e.id,
    state,
    items: items.sort((a, b) => a.generationId.localeCompare(b.generationId, 'en', { numeric: true })),
    counts,
  };
}

export async function batchView(workflows: Workflows, e: Execution): Promise<BatchView> {
  const status = (await workflows.batchStatus(e)) ?? (await batchStatusFromVisibility(workflows, e));
  const closed = stateOfStatus(e.status);
  return {
    id: e.id,
    state: closed === 'expired' ? 'expired' : closed === 'failed' && e.status === 'TERMINATED' ? 'failed' : status.state,
    counts: status.counts,
    items: status.items.map((it) => ({
      id: it.generationId,
      state: it.state,
      step: it.final?.step ?? null,
      text: it.final?.text ?? null,
      error: it.error,
    })),
    createdAt: e.createdAt.toISOString(),
    finishedAt: e.finishedAt?.toISOString() ?? null,
  };
}

/** Event ids of `batches.watch`: `<finished>.<started>.<state>`, non-decreasing while the batch runs. */
export function batchEventId(b: BatchView): string {
  const finished = b.counts.succeeded + b.counts.failed + b.counts.canceled + b.counts.expired;
  return `${finished}.${finished + b.counts.running}.${b.state}`;
}

/** Many generations as one job (bounded concurrency); each item is a generation of its own (`<batch id>-<index>`). */
export async function createBatch(
  scope: JobScope,
  input: {
    items: GenerationRequest[];
    concurrency: number;
    idempotencyKey?: string | undefined;
    deadlineSeconds?: number | undefined;
    webhook?: WebhookRequest | undefined;
  },
): Promise<BatchView> {
  await asBadRequest(async () => {
    for (const [i, item] of input.items.entries()) {
      try {
        await scope.jobs.checkpoints.validateRequest(item);
      } catch (error) {
        if (error instanceof InvalidInputError) throw new InvalidInputError(`items.${i}: ${error.message}`);
        throw error;
      }
    }
  });
  const { tenant } = scope;
  const webhook = webhookTarget(input.webhook, tenant, scope.jobs.webhookTenants);
  const batchId = jobId('batch', tenant, input.idempotencyKey);
  const args: BatchWorkflowInput = {
    batchId,
    items: input.items.map((request, i) => ({ generationId: `${batchId}-${i}`, root: { kind: 'new', request } })),
    concurrency: input.concurrency,
    stepsPerActivity: scope.jobs.stepsPerActivity,
    ...(scope.jobs.minActivityMs !== undefined ? { minActivityMs: scope.jobs.minActivityMs } : {}),
    tenant,
    ...(webhook ? { webhook } : {}),
  };
  await startJob(scope.workflows, {
    workflow: 'batch',
    workflowId: batchId,
    tenant,
    batchId,
    idempotent: input.idempotencyKey !== undefined,
    requestHash: sha256(
      canonicalJson({ kind: 'batch', items: input.items, concurrency: input.concurrency, deadlineSeconds: input.deadlineSeconds, webhook }),
    ),
    ...(input.deadlineSeconds ? { deadlineSeconds: input.deadlineSeconds } : {}),
    args,
  });
  const e = await scope.workflows.describe(batchId);
  if (!e) throw new Error(`batch ${batchId} was started but is not there`);
  return {
    id: batchId,
    state: 'running',
    counts: { queued: input.items.length, running: 0, succeeded: 0, failed: 0, canceled: 0, expired: 0 },
    items: args.items.map((it) => ({ id: it.generationId, state: 'queued' as const, step: null, text: null, error: null })),
    createdAt: e.createdAt.toISOString(),
    finishedAt: null,
  };
}

export async function getBatch(scope: JobScope, id: string): Promise<BatchView> {
  return batchView(scope.workflows, await describeOwned(scope.workflows, scope.tenant, id, 'batch'));
}

/** The tenant's batches, newest first. */
export async function listBatches(
  scope: JobScope,
  input: { state?: Exclude<BatchViewState, 'expired'> | undefined; limit: number; cursor?: string | undefined },
): Promise<{ items: { id: string; state: BatchViewState; createdAt: string; finishedAt: string | null }[]; nextCursor: string | null }> {
  const page = await scope.workflows.list({ type: 'batch', tenant: scope.tenant, publishedState: input.state }, input.limit, input.cursor);
  return {
    items: page.rows
      .filter((r) => r.tenant === scope.tenant)
      .map((r) => ({
        id: r.id,
        state: r.status === 'TIMED_OUT' ? ('expired' as const) : ((r.publishedState ?? 'running') as BatchViewState),
        createdAt: r.createdAt,
        finishedAt: r.finishedAt,
      })),
    nextCursor: page.nextCursor,
  };
}

/**
 * The batch's view whenever an item starts or finishes or the batch's state changes, until the
 * batch ends; each with its event id. Starts right after `lastEventId`.
 */
export async function* watchBatch(
  scope: JobScope,
  input: { id: string; lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<{ id: string; view: BatchView }> {
  let e = await describeOwned(scope.workflows, scope.tenant, input.id, 'batch');
  let last = input.lastEventId ?? null;
  for (;;) {
    const view = await batchView(scope.workflows, e);
    const id = batchEventId(view);
    if (id !== last) {
      last = id;
      yield { id, view };
    }
    if (view.state !== 'running') return;
    try {
      await sleep(Math.max(scope.jobs.watchIntervalMs, 250), undefined, { signal });
    } catch {
      return;
    }
    e = (await scope.workflows.describe(input.id)) ?? e;
  }
}

/** Cancels the batch: running items stop between steps (each keeps its newest checkpoint), no new item starts. */
export async function cancelBatch(scope: JobScope, id: string): Promise<{ id: string; cancelRequested: true }> {
  const e = await describeOwned(scope.workflows, scope.tenant, id, 'batch');
  if (e.status !== 'RUNNING') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `batch ${id} is not running` });
  await scope.workflows.cancel(id);
  return { id, cancelRequested: true };
}
