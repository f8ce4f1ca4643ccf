import { TRPCError } from '@trpc/server';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { statusQueryName, type BatchStatus, type BatchWorkflowInput, stateKey } from '@oneflow/contracts';
import { setTimeout as sleep } from 'node:timers/promises';
import { tracked } from '@trpc/server';
import { describeOwned, listPage, lit, sha256, stateOfStatus } from '../jobs.js';
import { createBatchInput, idInput, listBatchesInput, watchInput } from '../schemas.js';
import { authedProcedure, rest, router } from '../trpc.js';

const B = 'batches';
import { asBadRequest, canonicalJson, jobId, startJob, webhookTarget } from './start.js';
import { InvalidInputError } from '../checkpoints.js';
import { batchCancelSchema, batchPageSchema, batchViewSchema, type BatchView, type BatchViewState } from '../outputs.js';

export type { BatchView, BatchViewState } from '../outputs.js';

async function batchStatus(client: Client, d: WorkflowExecutionDescription): Promise<BatchStatus> {
  const handle = client.workflow.getHandle(d.workflowId);
  if (d.status.name === 'COMPLETED') return (await handle.result()) as BatchStatus;
  // Running or closed otherwise: the workflow answers its status query (a closed one by replay),
  // if a worker does within a few seconds; else the items as visibility lists them.
  try {
    return await client.connection.withDeadline(Date.now() + 5000, () => handle.query<BatchStatus>(statusQueryName));
  } catch {
    return batchStatusFromVisibility(client, d);
  }
}

/** The batch's items as visibility lists them (eventually consistent; items not started yet are missing). */
async function batchStatusFromVisibility(client: Client, d: WorkflowExecutionDescription): Promise<BatchStatus> {
  const items: BatchStatus['items'] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 5; page++) {
    const res = await listPage(
      client,
      `WorkflowType = 'generation' AND OneflowBatchId = ${lit(d.workflowId)} AND ExecutionStatus != 'ContinuedAsNew'`,
      100,
      cursor,
    );
    for (const r of res.rows) items.push({ generationId: r.id, state: r.state, final: null, error: null });
    if (!res.nextCursor) break;
    cursor = res.nextCursor;
  }
  const counts = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0, expired: 0 };
  for (const it of items) counts[it.state] += 1;
  const published = d.typedSearchAttributes.get(stateKey);
  const state = (['running', 'succeeded', 'partial', 'failed', 'canceled'] as const).find((x) => x === published) ?? 'running';
  return {
    batchId: d.workflowId,
    state,
    items: items.sort((a, b) => a.generationId.localeCompare(b.generationId, 'en', { numeric: true })),
    counts,
  };
}

/** Event ids of `batches.watch`: `<finished>.<started>.<state>`, non-decreasing while the batch runs. */
function batchEventId(b: BatchView): string {
  const finished = b.counts.succeeded + b.counts.failed + b.counts.canceled + b.counts.expired;
  return `${finished}.${finished + b.counts.running}.${b.state}`;
}

async function batchView(client: Client, d: WorkflowExecutionDescription): Promise<BatchView> {
  const status = await batchStatus(client, d);
  const closed = stateOfStatus(d.status.name);
  return {
    id: d.workflowId,
    state: closed === 'expired' ? 'expired' : closed === 'failed' && d.status.name === 'TERMINATED' ? 'failed' : status.state,
    counts: status.counts,
    items: status.items.map((it) => ({
      id: it.generationId,
      state: it.state,
      step: it.final?.step ?? null,
      text: it.final?.text ?? null,
      error: it.error,
    })),
    createdAt: d.startTime.toISOString(),
    finishedAt: d.closeTime?.toISOString() ?? null,
  };
}

export const batchesRouter = router({
  /** Many generations as one job (bounded concurrency); each item is a generation of its own (`<batch id>-<index>`). */
  create: authedProcedure
    .meta(rest('POST', '/batches', B, 'Start a batch of generations'))
    .input(createBatchInput)
    .output(batchViewSchema)
    .mutation(async ({ ctx, input }): Promise<BatchView> => {
      await asBadRequest(() =>
        input.items.forEach((item, i) => {
          try {
            ctx.jobs.checkpoints.validateRequest(item);
          } catch (error) {
            if (error instanceof InvalidInputError) throw new InvalidInputError(`items.${i}: ${error.message}`);
            throw error;
          }
        }),
      );
      const tenant = ctx.principal.tenant;
      const webhook = webhookTarget(input.webhook, tenant, ctx.jobs.webhookTenants);
      const client = await ctx.temporal.client();
      const batchId = jobId('batch', tenant, input.idempotencyKey);
      const args: BatchWorkflowInput = {
        batchId,
        items: input.items.map((request, i) => ({ generationId: `${batchId}-${i}`, root: { kind: 'new', request } })),
        concurrency: input.concurrency,
        stepsPerActivity: ctx.jobs.stepsPerActivity,
        tenant,
        ...(webhook ? { webhook } : {}),
      };
      await startJob(client, {
        workflow: 'batch',
        workflowId: batchId,
        tenant,
        batchId,
        idempotent: input.idempotencyKey !== undefined,
        requestHash: sha256(
          canonicalJson({
            kind: 'batch',
            items: input.items,
            concurrency: input.concurrency,
            deadlineSeconds: input.deadlineSeconds,
            webhook,
          }),
        ),
        ...(input.deadlineSeconds ? { deadlineSeconds: input.deadlineSeconds } : {}),
        args,
      });
      const d = await client.workflow.getHandle(batchId).describe();
      const counts = { queued: input.items.length, running: 0, succeeded: 0, failed: 0, canceled: 0, expired: 0 };
      return {
        id: batchId,
        state: 'running',
        counts,
        items: args.items.map((it) => ({ id: it.generationId, state: 'queued' as const, step: null, text: null, error: null })),
        createdAt: d.startTime.toISOString(),
        finishedAt: null,
      };
    }),

  get: authedProcedure
    .meta(rest('GET', '/batches/{id}', B, 'A batch: state, counts, items'))
    .input(idInput)
    .output(batchViewSchema)
    .query(async ({ ctx, input }) => {
      const client = await ctx.temporal.client();
      return batchView(client, await describeOwned(client, ctx.principal.tenant, input.id, 'batch'));
    }),

  list: authedProcedure
    .meta(rest('GET', '/batches', B, "The tenant's batches, newest first"))
    .input(listBatchesInput)
    .output(batchPageSchema)
    .query(
      async ({
        ctx,
        input,
      }): Promise<{
        items: { id: string; state: BatchViewState; createdAt: string; finishedAt: string | null }[];
        nextCursor: string | null;
      }> => {
        const client = await ctx.temporal.client();
        const query = [
          `WorkflowType = 'batch'`,
          `OneflowTenant = ${lit(ctx.principal.tenant)}`,
          `ExecutionStatus != 'ContinuedAsNew'`,
          ...(input.state ? [`OneflowState = ${lit(input.state)}`] : []),
        ].join(' AND ');
        const page = await listPage(client, query, input.limit, input.cursor);
        return {
          items: page.rows
            .filter((r) => r.tenant === ctx.principal.tenant)
            .map((r) => ({
              id: r.id,
              state: r.status === 'TIMED_OUT' ? ('expired' as const) : ((r.publishedState ?? 'running') as BatchViewState),
              createdAt: r.createdAt,
              finishedAt: r.finishedAt,
            })),
          nextCursor: page.nextCursor,
        };
      },
    ),

  /**
   * The batch's progress as server-sent events: its view whenever an item starts or finishes or the
   * batch's state changes; ends when the batch does. `tracked` ids resume after `lastEventId`.
   */
  watch: authedProcedure.input(watchInput).subscription(async function* ({ ctx, input, signal }) {
    const client = await ctx.temporal.client();
    let d = await describeOwned(client, ctx.principal.tenant, input.id, 'batch');
    let last = input.lastEventId ?? null;
    for (;;) {
      const view = await batchView(client, d);
      const id = batchEventId(view);
      if (id !== last) {
        last = id;
        yield tracked(id, view);
      }
      if (view.state !== 'running') return;
      try {
        await sleep(Math.max(ctx.jobs.watchIntervalMs, 250), undefined, { signal });
      } catch {
        return;
      }
      d = await client.workflow.getHandle(input.id).describe();
    }
  }),

  /** Cancels the batch: running items stop between steps (each keeps its newest checkpoint), no new item starts. */
  cancel: authedProcedure
    .meta(rest('POST', '/batches/{id}/cancel', B, 'Cancel a batch'))
    .input(idInput)
    .output(batchCancelSchema)
    .mutation(async ({ ctx, input }): Promise<{ id: string; cancelRequested: true }> => {
      const client = await ctx.temporal.client();
      const d = await describeOwned(client, ctx.principal.tenant, input.id, 'batch');
      if (d.status.name !== 'RUNNING') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `batch ${input.id} is not running` });
      await client.workflow.getHandle(input.id).cancel();
      return { id: input.id, cancelRequested: true };
    }),
});
