import { TRPCError } from '@trpc/server';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { statusQueryName, type BatchStatus, type BatchWorkflowInput, type GenerationState } from '@oneflow/contracts';
import { describeOwned, listPage, lit, sha256, stateOfStatus } from '../jobs.js';
import { createBatchInput, idInput, listBatchesInput } from '../schemas.js';
import { authedProcedure, router } from '../trpc.js';
import { asBadRequest, canonicalJson, jobId, startJob } from './start.js';
import { InvalidInputError } from '../checkpoints.js';

export type BatchViewState = BatchStatus['state'] | 'expired';

export interface BatchView {
  id: string;
  state: BatchViewState;
  counts: Record<GenerationState, number>;
  items: { id: string; state: GenerationState; step: number | null; text: string | null; error: string | null }[];
  createdAt: string;
  finishedAt: string | null;
}

async function batchStatus(client: Client, d: WorkflowExecutionDescription): Promise<BatchStatus> {
  const handle = client.workflow.getHandle(d.workflowId);
  if (d.status.name === 'COMPLETED') return (await handle.result()) as BatchStatus;
  // Running or closed otherwise: the workflow answers its status query (a closed one by replay).
  return handle.query<BatchStatus>(statusQueryName);
}

async function batchView(client: Client, d: WorkflowExecutionDescription): Promise<BatchView> {
  const status = await batchStatus(client, d);
  const closed = stateOfStatus(d.status.name);
  return {
    id: d.workflowId,
    state: closed === 'expired' ? 'expired' : closed === 'failed' && d.status.name === 'TERMINATED' ? 'failed' : status.state,
    counts: status.counts,
    items: status.items.map((it) => ({ id: it.generationId, state: it.state, step: it.final?.step ?? null, text: it.final?.text ?? null, error: it.error })),
    createdAt: d.startTime.toISOString(),
    finishedAt: d.closeTime?.toISOString() ?? null,
  };
}

export const batchesRouter = router({
  /** Many generations as one job (bounded concurrency); each item is a generation of its own (`<batch id>-<index>`). */
  create: authedProcedure.input(createBatchInput).mutation(async ({ ctx, input }): Promise<BatchView> => {
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
    const client = await ctx.temporal.client();
    const tenant = ctx.principal.tenant;
    const batchId = jobId('batch', tenant, input.idempotencyKey);
    const args: BatchWorkflowInput = {
      batchId,
      items: input.items.map((request, i) => ({ generationId: `${batchId}-${i}`, root: { kind: 'new', request } })),
      concurrency: input.concurrency,
      stepsPerActivity: ctx.jobs.stepsPerActivity,
      tenant,
    };
    await startJob(client, {
      workflow: 'batch',
      workflowId: batchId,
      tenant,
      batchId,
      idempotent: input.idempotencyKey !== undefined,
      requestHash: sha256(canonicalJson({ kind: 'batch', items: input.items, concurrency: input.concurrency, deadlineSeconds: input.deadlineSeconds })),
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

  get: authedProcedure.input(idInput).query(async ({ ctx, input }) => {
    const client = await ctx.temporal.client();
    return batchView(client, await describeOwned(client, ctx.principal.tenant, input.id, 'batch'));
  }),

  list: authedProcedure
    .input(listBatchesInput)
    .query(async ({ ctx, input }): Promise<{ items: { id: string; state: BatchViewState; createdAt: string; finishedAt: string | null }[]; nextCursor: string | null }> => {
      const client = await ctx.temporal.client();
      const query = [`WorkflowType = 'batch'`, `OneflowTenant = ${lit(ctx.principal.tenant)}`, `ExecutionStatus != 'ContinuedAsNew'`, ...(input.state ? [`OneflowState = ${lit(input.state)}`] : [])].join(' AND ');
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
    }),

  /** Cancels the batch: running items stop between steps (each keeps its newest checkpoint), no new item starts. */
  cancel: authedProcedure.input(idInput).mutation(async ({ ctx, input }): Promise<{ id: string; cancelRequested: true }> => {
    const client = await ctx.temporal.client();
    const d = await describeOwned(client, ctx.principal.tenant, input.id, 'batch');
    if (d.status.name !== 'RUNNING') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `batch ${input.id} is not running` });
    await client.workflow.getHandle(input.id).cancel();
    return { id: input.id, cancelRequested: true };
  }),
});
