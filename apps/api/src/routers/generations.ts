import { setTimeout as sleep } from 'node:timers/promises';
import { parentKey, modelKey, batchKey } from '@oneflow/contracts';
import { tracked, TRPCError } from '@trpc/server';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { GenerationRequest, GenerationState, RefineOp, SamplerOverrides, WebhookRequest } from '@oneflow/contracts';
import type { CheckpointReader, Snapshot } from '../checkpoints.js';
import {
  describeOwned,
  generationParts,
  generationView,
  listPage,
  lit,
  newestCheckpointId,
  sha256,
  TERMINAL_STATES,
  type GenerationMemo,
  type GenerationView,
  type ListedExecution,
} from '../jobs.js';
import { branchInput, createGenerationInput, idInput, listGenerationsInput, refineInput, watchInput } from '../schemas.js';
import { authedProcedure, rest, router } from '../trpc.js';

const G = 'generations';
import { asBadRequest, canonicalJson, generationArgs, jobId, startJob, webhookTarget } from './start.js';
import type { JobDeps } from '../context.js';
import { generationPageSchema, generationViewSchema, lineageSchema, type GenerationSummary, type LineageNode } from '../outputs.js';

export type { GenerationSummary, LineageNode } from '../outputs.js';

/** One `watch` event: the generation at one step (every step is reported, in order) or a state change. */
export interface WatchEvent {
  state: GenerationState;
  step: number;
  steps: number | null;
  tText: number;
  text: string;
  images: { index: number; clock: number }[];
  checkpointId: string | null;
  error: string | null;
}

const summaryOf = (r: ListedExecution): GenerationSummary => ({
  id: r.id,
  state: r.state,
  model: r.model,
  batchId: r.batchId,
  parentId: r.parentId,
  step: r.memo.step ?? r.step,
  checkpointId: r.memo.headCheckpointId ?? r.memo.resumedFrom ?? null,
  createdAt: r.createdAt,
  finishedAt: r.finishedAt,
});

/** The visibility query for a tenant's generations with the given filters (values are schema-checked). */
function generationsQuery(
  tenant: string,
  f: { state?: GenerationState | undefined; model?: string | undefined; batchId?: string | undefined; parentId?: string | undefined },
): string {
  const parts = [`WorkflowType = 'generation'`, `OneflowTenant = ${lit(tenant)}`, `ExecutionStatus != 'ContinuedAsNew'`];
  const byState: Record<GenerationState, string> = {
    queued: `ExecutionStatus = 'Running'`,
    running: `ExecutionStatus = 'Running'`,
    succeeded: `ExecutionStatus = 'Completed'`,
    failed: `(ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated')`,
    canceled: `ExecutionStatus = 'Canceled'`,
    expired: `ExecutionStatus = 'TimedOut'`,
  };
  if (f.state) parts.push(byState[f.state]);
  if (f.model) parts.push(`OneflowModel = ${lit(f.model)}`);
  if (f.batchId) parts.push(`OneflowBatchId = ${lit(f.batchId)}`);
  if (f.parentId) parts.push(`OneflowParentId = ${lit(f.parentId)}`);
  return parts.join(' AND ');
}

function eventOf(s: Snapshot | null, state: GenerationState, error: string | null): WatchEvent {
  return {
    state,
    step: s?.step ?? 0,
    steps: s?.steps ?? null,
    tText: s?.tText ?? 0,
    text: s?.text ?? '',
    images: (s?.imageClocks ?? []).map((clock, index) => ({ index, clock })),
    checkpointId: s?.checkpointId ?? null,
    error,
  };
}

/** Order of states at one step: queued, running, then a final state. */
function rankOf(state: string): number {
  return state === 'queued' ? 0 : state === 'running' ? 1 : 2;
}

/** Event ids are `<step>.<state>`: the stream is ordered by step, then by state change. */
function parseEventId(id: string | null | undefined): { step: number; state: string } | null {
  const m = /^(\d{1,9})\.([a-z]{1,20})$/.exec(id ?? '');
  return m ? { step: Number(m[1]), state: m[2]! } : null;
}

async function rootStepOf(checkpoints: CheckpointReader, memo: GenerationMemo): Promise<number> {
  const root = memo.originRoot ?? memo.rootCheckpointId;
  if (!root) return 0;
  return (await checkpoints.snapshot(root))?.step ?? 0;
}

/**
 * Where a branch starts: a generation's newest checkpoint (or its checkpoint at `step`), or a
 * checkpoint id. Checkpoint ids are 256-bit content hashes: knowing one is the capability to branch it.
 */
async function resolveBase(
  client: Client,
  jobs: JobDeps,
  tenant: string,
  from: { generationId: string; step?: number | undefined } | { checkpointId: string },
): Promise<{ checkpointId: string; parentId: string | null }> {
  if ('checkpointId' in from) {
    if (!(await jobs.checkpoints.snapshot(from.checkpointId)))
      throw new TRPCError({ code: 'NOT_FOUND', message: `checkpoint ${from.checkpointId} not found` });
    return { checkpointId: from.checkpointId, parentId: null };
  }
  const d = await describeOwned(client, tenant, from.generationId, 'generation');
  const newest = newestCheckpointId(d);
  const head = newest ? await jobs.checkpoints.snapshot(newest) : null;
  if (!head) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${from.generationId} has no checkpoint yet` });
  if (from.step === undefined || from.step === head.step) return { checkpointId: head.checkpointId, parentId: from.generationId };
  if (from.step > head.step)
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: `generation ${from.generationId} has reached step ${head.step}, not ${from.step}`,
    });
  const rootStep = await rootStepOf(jobs.checkpoints, d.memo ?? {});
  const at = from.step >= rootStep ? await jobs.checkpoints.ancestorAt(head.checkpointId, from.step) : null;
  if (!at)
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: `generation ${from.generationId} starts at step ${rootStep}; no checkpoint at step ${from.step}`,
    });
  return { checkpointId: at.checkpointId, parentId: from.generationId };
}

async function derive(
  ctx: { temporal: { client(): Promise<Client> }; jobs: JobDeps; principal: { tenant: string } },
  input: {
    from: { generationId: string; step?: number | undefined } | { checkpointId: string };
    overrides?: SamplerOverrides | undefined;
    idempotencyKey?: string | undefined;
    deadlineSeconds?: number | undefined;
    webhook?: WebhookRequest | undefined;
  },
  refine: RefineOp | undefined,
): Promise<GenerationView> {
  const tenant = ctx.principal.tenant;
  const webhook = webhookTarget(input.webhook, tenant, ctx.jobs.webhookTenants);
  const client = await ctx.temporal.client();
  const base = await resolveBase(client, ctx.jobs, tenant, input.from);
  const snap = await asBadRequest(() =>
    ctx.jobs.checkpoints.validateDerive(base.checkpointId, {
      ...(input.overrides ? { overrides: input.overrides } : {}),
      ...(refine ? { refine } : {}),
    }),
  );
  const workflowId = jobId('gen', tenant, input.idempotencyKey);
  await startJob(client, {
    workflow: 'generation',
    workflowId,
    tenant,
    idempotent: input.idempotencyKey !== undefined,
    requestHash: sha256(
      canonicalJson({ kind: refine ? 'refine' : 'branch', from: input.from, overrides: input.overrides, refine, webhook }),
    ),
    model: snap.model,
    ...(base.parentId ? { parentId: base.parentId } : {}),
    ...(input.deadlineSeconds ? { deadlineSeconds: input.deadlineSeconds } : {}),
    ...(webhook ? { memo: { webhook } } : {}),
    args: generationArgs(
      workflowId,
      {
        kind: 'checkpoint',
        checkpointId: base.checkpointId,
        ...(input.overrides ? { overrides: input.overrides } : {}),
        ...(refine ? { refine } : {}),
        ...(base.parentId ? { parentGenerationId: base.parentId } : {}),
      },
      tenant,
      ctx.jobs.stepsPerActivity,
      { webhook, deadlineSeconds: input.deadlineSeconds },
    ),
  });
  return generationView(client, ctx.jobs.checkpoints, await client.workflow.getHandle(workflowId).describe());
}

export const generationsRouter = router({
  /** Starts a generation. With `idempotencyKey`, retries (even concurrent ones) return the same generation. */
  create: authedProcedure
    .meta(rest('POST', '/generations', G, 'Start a generation'))
    .input(createGenerationInput)
    .output(generationViewSchema)
    .mutation(async ({ ctx, input }): Promise<GenerationView> => {
      const { idempotencyKey, deadlineSeconds, webhook: hook, ...request } = input;
      const req: GenerationRequest = request;
      await asBadRequest(() => ctx.jobs.checkpoints.validateRequest(req));
      const tenant = ctx.principal.tenant;
      const webhook = webhookTarget(hook, tenant, ctx.jobs.webhookTenants);
      const client = await ctx.temporal.client();
      const workflowId = jobId('gen', tenant, idempotencyKey);
      await startJob(client, {
        workflow: 'generation',
        workflowId,
        tenant,
        idempotent: idempotencyKey !== undefined,
        requestHash: sha256(canonicalJson({ kind: 'create', request: req, deadlineSeconds, webhook })),
        model: req.model,
        ...(deadlineSeconds ? { deadlineSeconds } : {}),
        ...(webhook ? { memo: { webhook } } : {}),
        args: generationArgs(workflowId, { kind: 'new', request: req }, tenant, ctx.jobs.stepsPerActivity, { webhook, deadlineSeconds }),
      });
      return generationView(client, ctx.jobs.checkpoints, await client.workflow.getHandle(workflowId).describe());
    }),

  get: authedProcedure
    .meta(rest('GET', '/generations/{id}', G, 'A generation: state, progress, text, images, checkpoints'))
    .input(idInput)
    .output(generationViewSchema)
    .query(async ({ ctx, input }): Promise<GenerationView> => {
      const client = await ctx.temporal.client();
      return generationView(client, ctx.jobs.checkpoints, await describeOwned(client, ctx.principal.tenant, input.id, 'generation'));
    }),

  list: authedProcedure
    .meta(rest('GET', '/generations', G, "The tenant's generations, newest first"))
    .input(listGenerationsInput)
    .output(generationPageSchema)
    .query(async ({ ctx, input }): Promise<{ items: GenerationSummary[]; nextCursor: string | null }> => {
      const client = await ctx.temporal.client();
      const page = await listPage(client, generationsQuery(ctx.principal.tenant, input), input.limit, input.cursor);
      let rows = page.rows.filter((r) => r.tenant === ctx.principal.tenant);
      // Temporal has one "Running" status; queued vs running is ours (no checkpoint yet).
      if (input.state === 'queued' || input.state === 'running') rows = rows.filter((r) => r.state === input.state);
      return { items: rows.map(summaryOf), nextCursor: page.nextCursor };
    }),

  /** Requests cancellation: the running step finishes, the newest checkpoint is kept (`resume` continues from it). */
  cancel: authedProcedure
    .meta(rest('POST', '/generations/{id}/cancel', G, 'Cancel (the newest checkpoint is kept)'))
    .input(idInput)
    .output(generationViewSchema)
    .mutation(async ({ ctx, input }): Promise<GenerationView> => {
      const client = await ctx.temporal.client();
      const d = await describeOwned(client, ctx.principal.tenant, input.id, 'generation');
      if (d.status.name !== 'RUNNING')
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${input.id} is not running` });
      await client.workflow.getHandle(input.id).cancel();
      return generationView(client, ctx.jobs.checkpoints, await client.workflow.getHandle(input.id).describe());
    }),

  /** Continues a canceled, failed or expired generation from its newest checkpoint, under the same id. */
  resume: authedProcedure
    .meta(rest('POST', '/generations/{id}/resume', G, 'Resume a canceled, failed or expired generation'))
    .input(idInput)
    .output(generationViewSchema)
    .mutation(async ({ ctx, input }): Promise<GenerationView> => {
      const client = await ctx.temporal.client();
      const tenant = ctx.principal.tenant;
      const d = await describeOwned(client, tenant, input.id, 'generation');
      const parts = await generationParts(client, ctx.jobs.checkpoints, d);
      if (parts.state === 'queued' || parts.state === 'running')
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${input.id} is ${parts.state}` });
      if (parts.state === 'succeeded')
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${input.id} has already succeeded` });
      const memo = (d.memo ?? {}) as GenerationMemo;
      const head = memo.headCheckpointId ?? memo.resumedFrom ?? null;
      if (!head || !parts.snapshot)
        throw new TRPCError({
          code: 'PRECONDITION_FAILED',
          message: `generation ${input.id} stopped before its first checkpoint; create it again`,
        });
      const parentId = d.typedSearchAttributes.get(parentKey) ?? memo.parentGenerationId ?? undefined;
      const batchId = d.typedSearchAttributes.get(batchKey) ?? undefined;
      const originRoot = memo.originRoot ?? memo.rootCheckpointId ?? undefined;
      await startJob(client, {
        workflow: 'generation',
        workflowId: input.id,
        tenant,
        idempotent: false,
        reuse: true,
        requestHash: memo.requestHash ?? '',
        model: d.typedSearchAttributes.get(modelKey) ?? parts.snapshot.model,
        ...(parentId ? { parentId } : {}),
        ...(batchId ? { batchId } : {}),
        memo: { resumedFrom: head, ...(originRoot ? { originRoot } : {}), ...(memo.webhook ? { webhook: memo.webhook } : {}) },
        args: generationArgs(input.id, { kind: 'resume', checkpointId: head }, tenant, ctx.jobs.stepsPerActivity, {
          batchId,
          webhook: memo.webhook,
        }),
      });
      return generationView(client, ctx.jobs.checkpoints, await client.workflow.getHandle(input.id).describe());
    }),

  /** A new generation from a generation's step (default: its newest) or from a checkpoint id, with overrides. */
  branch: authedProcedure
    .meta(rest('POST', '/generations/branch', G, 'A new generation from any step of another, with overrides'))
    .input(branchInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => derive(ctx, input, undefined)),

  /** A branch with a refinement operation (re-noise an image, delete a text span, replace the prompt). */
  refine: authedProcedure
    .meta(rest('POST', '/generations/refine', G, 'A branch with a refinement operation'))
    .input(refineInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => derive(ctx, input, input.op)),

  /** The tree of branches the generation belongs to (from its topmost ancestor), flat, with checkpoints. */
  lineage: authedProcedure
    .meta(rest('GET', '/generations/{id}/lineage', G, 'The tree of branches the generation belongs to'))
    .input(idInput)
    .output(lineageSchema)
    .query(async ({ ctx, input }): Promise<{ rootId: string; nodes: LineageNode[] }> => {
      const client = await ctx.temporal.client();
      const tenant = ctx.principal.tenant;
      let d: WorkflowExecutionDescription = await describeOwned(client, tenant, input.id, 'generation');
      for (let depth = 0; depth < 64; depth++) {
        const parent = d.typedSearchAttributes.get(parentKey);
        if (!parent) break;
        const up = await describeOwned(client, tenant, parent, 'generation').catch(() => null);
        if (!up) break;
        d = up;
      }
      const rootView = await generationView(client, ctx.jobs.checkpoints, d);
      const summaries: GenerationSummary[] = [
        {
          id: rootView.id,
          state: rootView.state,
          model: rootView.model,
          batchId: rootView.batchId,
          parentId: rootView.parentId,
          step: rootView.step,
          checkpointId: rootView.checkpointId,
          createdAt: rootView.createdAt,
          finishedAt: rootView.finishedAt,
        },
      ];
      const roots = new Map<string, string | null>([[rootView.id, rootView.rootCheckpointId]]);
      const queue = [rootView.id];
      while (queue.length > 0 && summaries.length < 500) {
        const pid = queue.shift()!;
        let cursor: string | undefined;
        do {
          const page = await listPage(client, generationsQuery(tenant, { parentId: pid }), 100, cursor);
          for (const r of page.rows) {
            if (r.tenant !== tenant || roots.has(r.id)) continue;
            summaries.push(summaryOf(r));
            roots.set(r.id, r.memo.originRoot ?? r.memo.rootCheckpointId ?? null);
            queue.push(r.id);
          }
          cursor = page.nextCursor ?? undefined;
        } while (cursor && summaries.length < 500);
      }
      const nodes = await Promise.all(
        summaries.map(async (s): Promise<LineageNode> => {
          const rootCheckpointId = roots.get(s.id) ?? null;
          const root = rootCheckpointId ? await ctx.jobs.checkpoints.snapshot(rootCheckpointId) : null;
          return { ...s, rootCheckpointId, branchedFrom: root?.parentId ? { checkpointId: root.parentId, step: root.step } : null };
        }),
      );
      return { rootId: rootView.id, nodes };
    }),

  /**
   * Progress as server-sent events: every step in order (step, partial text, image clocks), then
   * state changes; ends after a final state. Events are `tracked` with id `<step>.<state>`, so a
   * reconnect (`lastEventId`) resumes right after the last event it saw.
   */
  watch: authedProcedure.input(watchInput).subscription(async function* ({ ctx, input, signal }) {
    const client = await ctx.temporal.client();
    const tenant = ctx.principal.tenant;
    const checkpoints = ctx.jobs.checkpoints;
    let d = await describeOwned(client, tenant, input.id, 'generation');
    let cursor = parseEventId(input.lastEventId);
    for (;;) {
      const parts = await generationParts(client, checkpoints, d);
      const s = parts.snapshot;
      const events: WatchEvent[] = [];
      if (s) {
        const rootStep = await rootStepOf(checkpoints, d.memo ?? {});
        const floor = Math.max(cursor?.step ?? rootStep, rootStep);
        const chain = (await checkpoints.chain(s.checkpointId, floor)).filter((c) => c.step >= (cursor?.step ?? rootStep));
        // Every step once, as `running` (the newest with the current state); the loop below drops
        // what the client already has.
        chain.forEach((c, i) =>
          events.push(eventOf(c, i === chain.length - 1 ? parts.state : 'running', i === chain.length - 1 ? parts.error : null)),
        );
        if (chain.length === 0) events.push(eventOf(s, parts.state, parts.error));
      } else if (!cursor || cursor.state !== parts.state) {
        events.push(eventOf(null, parts.state, parts.error));
      }
      for (const e of events) {
        // Strictly forward in (step, state rank): a continue-as-new briefly shows a run with no
        // checkpoint yet, and an id is never sent twice.
        if (cursor && (e.step < cursor.step || (e.step === cursor.step && rankOf(e.state) <= rankOf(cursor.state)))) continue;
        cursor = { step: e.step, state: e.state };
        yield tracked(`${e.step}.${e.state}`, e);
      }
      if (TERMINAL_STATES.includes(parts.state) && cursor?.state === parts.state) return;
      try {
        await sleep(ctx.jobs.watchIntervalMs, undefined, { signal });
      } catch {
        return; // the client went away
      }
      d = await client.workflow.getHandle(input.id).describe();
    }
  }),
});
