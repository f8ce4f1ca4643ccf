import { TRPCError } from '@trpc/server';
import {
  newestCheckpointOf,
  rootCheckpointOf,
  type GenerationMemo,
  type GenerationRequest,
  type GenerationState,
  type RefineOp,
  type SamplerOverrides,
  type WebhookRequest,
} from '@oneflow/contracts';
import type { Snapshot } from '@oneflow/engine';
import type { JobDeps } from '../context.js';
import type { GenerationSummary, GenerationView, StepPage } from '../outputs.js';
import { describeOwned, newestCheckpointId } from './ownership.js';
import { collectedError, keptCheckpoints, stepSnapshot } from './retention.js';
import type { JobScope } from './scope.js';
import { asBadRequest, canonicalJson, generationArgs, jobId, sha256, startJob, webhookTarget } from './starter.js';
import { stateOfStatus, type Execution, type ListedExecution, type ListFilter } from './workflows.js';

export const TERMINAL_STATES: readonly GenerationState[] = ['succeeded', 'failed', 'canceled', 'expired'];

export interface ViewParts {
  state: GenerationState;
  snapshot: Snapshot | null;
  error: string | null;
}

/** The snapshot of a generation's newest checkpoint (the step in flight while it runs), or null before its first. */
export async function newestSnapshot(jobs: JobDeps, e: Execution): Promise<Snapshot | null> {
  const newest = newestCheckpointId(e);
  const snapshot = newest ? await jobs.checkpoints.snapshot(newest) : null;
  // A heartbeat checkpoint lost with its machine: fall back to the durable head.
  const head = e.memo.headCheckpointId;
  return !snapshot && head && head !== newest ? jobs.checkpoints.snapshot(head) : snapshot;
}

/** State, newest checkpoint's snapshot and error of a generation. */
export async function generationParts(scope: Pick<JobScope, 'workflows' | 'jobs'>, e: Execution): Promise<ViewParts> {
  let state = stateOfStatus(e.status);
  if (state === 'running' && newestCheckpointOf(e.memo) === null && e.awaitingWorker) state = 'queued';
  const snapshot = await newestSnapshot(scope.jobs, e);
  const error = state === 'failed' || state === 'expired' ? await scope.workflows.failureMessage(e) : null;
  return { state, snapshot, error };
}

export function imageUrl(generationId: string, k: number, step?: number): string {
  return `/generations/${encodeURIComponent(generationId)}/images/${k}.png${step === undefined ? '' : `?step=${step}`}`;
}

export function viewOf(e: Execution, parts: ViewParts, queuePosition: number | null = null): GenerationView {
  const s = parts.snapshot;
  return {
    id: e.id,
    state: parts.state,
    model: s?.model ?? e.model,
    batchId: e.batchId,
    parentId: e.parentId ?? e.memo.parentGenerationId ?? null,
    createdAt: e.createdAt.toISOString(),
    finishedAt: e.finishedAt?.toISOString() ?? null,
    step: s?.step ?? 0,
    steps: s?.steps ?? null,
    tText: s?.tText ?? 0,
    text: s?.text ?? '',
    images: (s?.imageClocks ?? []).map((clock, index) => ({ index, clock, url: imageUrl(e.id, index) })),
    checkpointId: s?.checkpointId ?? null,
    rootCheckpointId: rootCheckpointOf(e.memo),
    error: parts.error,
    queuePosition,
  };
}

/** The view of a generation; a queued one's position is estimated (generations at step 0 started before it). */
export async function generationView(scope: Pick<JobScope, 'workflows' | 'jobs'>, e: Execution): Promise<GenerationView> {
  const parts = await generationParts(scope, e);
  const position = parts.state === 'queued' ? await scope.workflows.countWaitingBefore(e.createdAt) : null;
  return viewOf(e, parts, position);
}

/** A generation's state from a listing row (no activity details there: no checkpoint yet means queued). */
export function listedState(r: ListedExecution): GenerationState {
  const state = stateOfStatus(r.status);
  return state === 'running' && newestCheckpointOf(r.memo) === null ? 'queued' : state;
}

export function summaryOf(r: ListedExecution): GenerationSummary {
  return {
    id: r.id,
    state: listedState(r),
    model: r.model,
    batchId: r.batchId,
    parentId: r.parentId,
    step: r.memo.step ?? r.step,
    checkpointId: newestCheckpointOf(r.memo),
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  };
}

/** The step a generation's own checkpoints start at (its root's; a branch starts where it branched). */
export async function rootStepOf(jobs: JobDeps, memo: GenerationMemo): Promise<number> {
  const root = rootCheckpointOf(memo);
  return root ? ((await jobs.checkpoints.snapshot(root))?.step ?? 0) : 0;
}

type BranchFrom = { generationId: string; step?: number | undefined } | { checkpointId: string };

/**
 * Where a branch starts: a generation's newest checkpoint (or its checkpoint at `step`), or a
 * checkpoint id that one of the caller's generations stored (its ownership marker). Another
 * tenant's checkpoint gets the answer of one never stored: knowing a hash grants nothing, and
 * whether it exists does not leak (the marker is read first, the store only for an owner).
 */
async function resolveBase(scope: JobScope, from: BranchFrom): Promise<{ checkpointId: string; parentId: string | null }> {
  const { checkpoints, owners } = scope.jobs;
  if ('checkpointId' in from) {
    if (!(await owners.owns(scope.tenant, from.checkpointId)) || !(await checkpoints.snapshot(from.checkpointId)))
      throw new TRPCError({
        code: 'NOT_FOUND',
        message: `checkpoint ${from.checkpointId} not found (never stored, or collected by retention)`,
      });
    return { checkpointId: from.checkpointId, parentId: null };
  }
  const e = await describeOwned(scope.workflows, scope.tenant, from.generationId, 'generation');
  const head = await newestSnapshot(scope.jobs, e);
  if (!head) {
    if (newestCheckpointId(e)) throw collectedError(from.generationId, from.step);
    throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${from.generationId} has no checkpoint yet` });
  }
  if (from.step === undefined || from.step === head.step) return { checkpointId: head.checkpointId, parentId: from.generationId };
  if (from.step > head.step)
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: `generation ${from.generationId} has reached step ${head.step}, not ${from.step}`,
    });
  const rootStep = await rootStepOf(scope.jobs, e.memo);
  const at = from.step >= rootStep ? await stepSnapshot(scope, e, from.step) : null;
  if (!at)
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: `generation ${from.generationId} starts at step ${rootStep}; no checkpoint at step ${from.step}`,
    });
  return { checkpointId: at.checkpointId, parentId: from.generationId };
}

async function viewById(scope: JobScope, id: string): Promise<GenerationView> {
  const e = await scope.workflows.describe(id);
  if (!e) throw new Error(`generation ${id} was started but is not there`);
  return generationView(scope, e);
}

export interface JobOptions {
  idempotencyKey?: string | undefined;
  deadlineSeconds?: number | undefined;
  webhook?: WebhookRequest | undefined;
}

/** Starts a generation. With `idempotencyKey`, retries (even concurrent ones) return the same generation. */
export async function createGeneration(scope: JobScope, input: GenerationRequest & JobOptions): Promise<GenerationView> {
  const { idempotencyKey, deadlineSeconds, webhook: hook, ...request } = input;
  const req: GenerationRequest = request;
  await asBadRequest(() => scope.jobs.checkpoints.validateRequest(req));
  const { tenant } = scope;
  const webhook = webhookTarget(hook, tenant, scope.jobs.webhookTenants);
  const workflowId = jobId('gen', tenant, idempotencyKey);
  await startJob(scope.workflows, {
    workflow: 'generation',
    workflowId,
    tenant,
    idempotent: idempotencyKey !== undefined,
    requestHash: sha256(canonicalJson({ kind: 'create', request: req, deadlineSeconds, webhook })),
    model: req.model,
    ...(deadlineSeconds ? { deadlineSeconds } : {}),
    ...(webhook ? { memo: { webhook } } : {}),
    args: generationArgs(workflowId, { kind: 'new', request: req }, tenant, scope.jobs, { webhook, deadlineSeconds }),
  });
  return viewById(scope, workflowId);
}

export async function getGeneration(scope: JobScope, id: string): Promise<GenerationView> {
  return generationView(scope, await describeOwned(scope.workflows, scope.tenant, id, 'generation'));
}

/** The tenant's generations, newest first, filtered. */
export async function listGenerations(
  scope: JobScope,
  input: Omit<ListFilter, 'type' | 'tenant' | 'publishedState'> & { limit: number; cursor?: string | undefined },
): Promise<{ items: GenerationSummary[]; nextCursor: string | null }> {
  const { limit, cursor, ...filter } = input;
  const page = await scope.workflows.list({ type: 'generation', tenant: scope.tenant, ...filter }, limit, cursor);
  let rows = page.rows.filter((r) => r.tenant === scope.tenant);
  // Temporal has one "Running" status; queued vs running is ours (no checkpoint yet).
  if (input.state === 'queued' || input.state === 'running') rows = rows.filter((r) => listedState(r) === input.state);
  return { items: rows.map(summaryOf), nextCursor: page.nextCursor };
}

/** Requests cancellation: the running step finishes, the newest checkpoint is kept (`resume` continues from it). */
export async function cancelGeneration(scope: JobScope, id: string): Promise<GenerationView> {
  const e = await describeOwned(scope.workflows, scope.tenant, id, 'generation');
  if (e.status !== 'RUNNING') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${id} is not running` });
  await scope.workflows.cancel(id);
  return viewById(scope, id);
}

/** Continues a canceled, failed or expired generation from its newest checkpoint, under the same id. */
export async function resumeGeneration(scope: JobScope, id: string): Promise<GenerationView> {
  const { tenant } = scope;
  const e = await describeOwned(scope.workflows, tenant, id, 'generation');
  const parts = await generationParts(scope, e);
  if (parts.state === 'queued' || parts.state === 'running')
    throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${id} is ${parts.state}` });
  if (parts.state === 'succeeded') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${id} has already succeeded` });
  const memo = e.memo;
  const head = newestCheckpointOf(memo);
  if (!head || !parts.snapshot)
    throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `generation ${id} stopped before its first checkpoint; create it again` });
  const parentId = e.parentId ?? memo.parentGenerationId ?? undefined;
  const batchId = e.batchId ?? undefined;
  const originRoot = rootCheckpointOf(memo) ?? undefined;
  await startJob(scope.workflows, {
    workflow: 'generation',
    workflowId: id,
    tenant,
    idempotent: false,
    reuse: true,
    requestHash: memo.requestHash ?? '',
    model: e.model ?? parts.snapshot.model,
    ...(parentId ? { parentId } : {}),
    ...(batchId ? { batchId } : {}),
    memo: { resumedFrom: head, ...(originRoot ? { originRoot } : {}), ...(memo.webhook ? { webhook: memo.webhook } : {}) },
    args: generationArgs(id, { kind: 'resume', checkpointId: head }, tenant, scope.jobs, {
      batchId,
      webhook: memo.webhook,
    }),
  });
  return viewById(scope, id);
}

/** A new generation from a generation's step (or a checkpoint id), with overrides and at most one refinement. */
export async function deriveGeneration(
  scope: JobScope,
  input: JobOptions & { from: BranchFrom; overrides?: SamplerOverrides | undefined },
  refine: RefineOp | undefined,
): Promise<GenerationView> {
  const { tenant } = scope;
  const webhook = webhookTarget(input.webhook, tenant, scope.jobs.webhookTenants);
  const base = await resolveBase(scope, input.from);
  const change = { ...(input.overrides ? { overrides: input.overrides } : {}), ...(refine ? { refine } : {}) };
  const snap = await asBadRequest(() => scope.jobs.checkpoints.validateDerive(base.checkpointId, change));
  const workflowId = jobId('gen', tenant, input.idempotencyKey);
  await startJob(scope.workflows, {
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
        ...change,
        ...(base.parentId ? { parentGenerationId: base.parentId } : {}),
      },
      tenant,
      scope.jobs,
      { webhook, deadlineSeconds: input.deadlineSeconds },
    ),
  });
  return viewById(scope, workflowId);
}

/**
 * Every finished step of a generation (its own: from its root's step), oldest first, from
 * `fromStep`, at most `limit`; `nextStep` is where the next page starts (null: no more yet).
 */
export async function generationSteps(
  scope: JobScope,
  input: { id: string; fromStep?: number | undefined; limit: number },
): Promise<StepPage> {
  const e = await describeOwned(scope.workflows, scope.tenant, input.id, 'generation');
  const { kept, collected } = await keptCheckpoints(scope, e);
  if (kept.length === 0) {
    if (collected) throw collectedError(input.id);
    return { items: [], nextStep: null };
  }
  const rootStep = await rootStepOf(scope.jobs, e.memo);
  const floor = Math.max(input.fromStep ?? rootStep, rootStep);
  // Asking from a step retention removed is an error; a page lists the steps that are kept.
  if (input.fromStep !== undefined && input.fromStep >= rootStep && !kept.some((k) => k.step === input.fromStep))
    await stepSnapshot(scope, e, input.fromStep);
  const page = kept.filter((k) => k.step >= floor).slice(0, input.limit + 1);
  const snapshots = await Promise.all(page.map((k) => scope.jobs.checkpoints.snapshot(k.checkpointId)));
  const chain = snapshots.filter((s): s is Snapshot => s !== null);
  return {
    items: chain.slice(0, input.limit).map((s) => ({
      step: s.step,
      checkpointId: s.checkpointId,
      text: s.text,
      pieces: s.pieces,
      imageClocks: s.imageClocks,
      tText: s.tText,
      done: s.done,
    })),
    nextStep: chain.length > input.limit ? chain[input.limit]!.step : null,
  };
}
