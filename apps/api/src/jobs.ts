import { createHash } from 'node:crypto';
import { batchKey, modelKey, parentKey, stepKey, tenantKey } from '@oneflow/contracts';
import { TRPCError } from '@trpc/server';
import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { GenerationState, WebhookTarget } from '@oneflow/contracts';
import type { CheckpointReader, Snapshot } from './checkpoints.js';
import type { GenerationView } from './outputs.js';

/** What the generation workflow (and the API at start) keep in the memo. */
export interface GenerationMemo {
  tenant?: string;
  requestHash?: string;
  headCheckpointId?: string | null;
  rootCheckpointId?: string | null;
  step?: number;
  parentGenerationId?: string | null;
  /** Set by `resume`: the kept checkpoint the new run continues from, and the first run's root. */
  resumedFrom?: string;
  originRoot?: string;
  /** The generation's webhook (no secret): a resumed run keeps delivering to it. */
  webhook?: WebhookTarget;
}

export type { GenerationView, ImageView } from './outputs.js';

export const TERMINAL_STATES: readonly GenerationState[] = ['succeeded', 'failed', 'canceled', 'expired'];

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Temporal's execution status → the states users know (`queued` is refined by {@link isQueued}). */
export function stateOfStatus(status: WorkflowExecutionStatusName): GenerationState {
  switch (status) {
    case 'COMPLETED':
      return 'succeeded';
    case 'FAILED':
    case 'TERMINATED':
      return 'failed';
    case 'CANCELLED':
      return 'canceled';
    case 'TIMED_OUT':
      return 'expired';
    default:
      return 'running';
  }
}

const RAW_STATUS: Record<number, WorkflowExecutionStatusName> = {
  1: 'RUNNING',
  2: 'COMPLETED',
  3: 'FAILED',
  4: 'CANCELLED',
  5: 'TERMINATED',
  6: 'CONTINUED_AS_NEW',
  7: 'TIMED_OUT',
};

export function notFound(kind: string, id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${kind} ${id} not found` });
}

/**
 * The execution behind `id` if it is a `type` workflow of `tenant`; NOT_FOUND otherwise (another
 * tenant's job is indistinguishable from a missing one). A batch's child has its tenant from its
 * first workflow task on; until then its parent's tenant counts.
 */
export async function describeOwned(
  client: Client,
  tenant: string,
  id: string,
  type: 'generation' | 'batch',
): Promise<WorkflowExecutionDescription> {
  const kind = type === 'generation' ? 'generation' : 'batch';
  let d: WorkflowExecutionDescription;
  try {
    d = await client.workflow.getHandle(id).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw notFound(kind, id);
    throw error;
  }
  if (d.type !== type) throw notFound(kind, id);
  let owner = d.typedSearchAttributes.get(tenantKey) ?? null;
  if (owner === null && d.parentExecution?.workflowId) {
    const parent = await client.workflow
      .getHandle(d.parentExecution.workflowId)
      .describe()
      .catch(() => null);
    owner = parent?.typedSearchAttributes.get(tenantKey) ?? null;
  }
  if (owner !== tenant) throw notFound(kind, id);
  return d;
}

function decodePayload(p: temporal.api.common.v1.IPayload | null | undefined): unknown {
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return undefined;
  }
}

/** The step in flight: the `advance` activity's last heartbeat `{step, checkpointId}`. */
export function heartbeatOf(d: WorkflowExecutionDescription): { step: number; checkpointId: string } | null {
  let best: { step: number; checkpointId: string } | null = null;
  for (const a of d.raw.pendingActivities ?? []) {
    const v = decodePayload(a.heartbeatDetails?.payloads?.[0]) as { step?: unknown; checkpointId?: unknown } | undefined;
    if (v && typeof v.step === 'number' && typeof v.checkpointId === 'string' && (!best || v.step > best.step)) {
      best = { step: v.step, checkpointId: v.checkpointId };
    }
  }
  return best;
}

/** Running, but no activity has started yet and there is no root checkpoint: waiting for a worker. */
function isQueued(d: WorkflowExecutionDescription, memo: GenerationMemo): boolean {
  if (memo.rootCheckpointId || memo.headCheckpointId || memo.resumedFrom) return false;
  // A run continued-as-new from an earlier one, before its first workflow task: not queued.
  const first = d.raw.workflowExecutionInfo?.firstRunId;
  if (first && first !== d.runId) return false;
  const STARTED = 2;
  const pending = d.raw.pendingActivities ?? [];
  if (pending.some((a) => Number(a.state) === STARTED || (a.attempt ?? 1) > 1)) return false;
  // No activity pending: either no workflow task has run yet (a short history), or the root
  // activity has just completed and the workflow has not recorded it yet (running).
  return pending.length > 0 || d.historyLength <= 3;
}

/** The failure message of a closed, failed workflow. */
async function failureOf(client: Client, d: WorkflowExecutionDescription): Promise<string> {
  if (d.status.name === 'TERMINATED') return 'terminated';
  if (d.status.name === 'TIMED_OUT') return 'deadline passed before it finished';
  try {
    await client.workflow.getHandle(d.workflowId, d.runId).result();
    return 'failed';
  } catch (error) {
    let e: unknown = error;
    if (e instanceof WorkflowFailedError) e = e.cause;
    while (e instanceof Error && e.cause instanceof Error) e = e.cause;
    return e instanceof Error ? e.message : String(e);
  }
}

export function imageUrl(generationId: string, k: number, step?: number): string {
  return `/generations/${encodeURIComponent(generationId)}/images/${k}.png${step === undefined ? '' : `?step=${step}`}`;
}

/** The newest checkpoint id of a generation (heartbeat, head, or the checkpoint a resume starts from). */
export function newestCheckpointId(d: WorkflowExecutionDescription): string | null {
  const memo = (d.memo ?? {}) as GenerationMemo;
  const hb = heartbeatOf(d);
  if (hb && d.status.name === 'RUNNING' && hb.step > (memo.step ?? -1)) return hb.checkpointId;
  return memo.headCheckpointId ?? memo.resumedFrom ?? memo.rootCheckpointId ?? null;
}

export interface ViewParts {
  state: GenerationState;
  snapshot: Snapshot | null;
  error: string | null;
  queuePosition?: number | null;
}

/** State, newest checkpoint's snapshot and error of a generation. */
export async function generationParts(client: Client, checkpoints: CheckpointReader, d: WorkflowExecutionDescription): Promise<ViewParts> {
  const memo = (d.memo ?? {}) as GenerationMemo;
  let state = stateOfStatus(d.status.name);
  if (state === 'running' && isQueued(d, memo)) state = 'queued';
  let snapshot: Snapshot | null = null;
  const newest = newestCheckpointId(d);
  if (newest) snapshot = await checkpoints.snapshot(newest);
  // A heartbeat checkpoint lost with its machine: fall back to the durable head.
  if (!snapshot && memo.headCheckpointId && memo.headCheckpointId !== newest) snapshot = await checkpoints.snapshot(memo.headCheckpointId);
  const error = state === 'failed' || state === 'expired' ? await failureOf(client, d) : null;
  return { state, snapshot, error };
}

export function viewOf(d: WorkflowExecutionDescription, parts: ViewParts): GenerationView {
  const memo = (d.memo ?? {}) as GenerationMemo;
  const s = parts.snapshot;
  return {
    id: d.workflowId,
    state: parts.state,
    model: s?.model ?? d.typedSearchAttributes.get(modelKey) ?? null,
    batchId: d.typedSearchAttributes.get(batchKey) ?? null,
    parentId: d.typedSearchAttributes.get(parentKey) ?? memo.parentGenerationId ?? null,
    createdAt: d.startTime.toISOString(),
    finishedAt: d.closeTime?.toISOString() ?? null,
    step: s?.step ?? 0,
    steps: s?.steps ?? null,
    tText: s?.tText ?? 0,
    text: s?.text ?? '',
    images: (s?.imageClocks ?? []).map((clock, index) => ({ index, clock, url: imageUrl(d.workflowId, index) })),
    checkpointId: s?.checkpointId ?? null,
    rootCheckpointId: memo.originRoot ?? memo.rootCheckpointId ?? null,
    error: parts.error,
    queuePosition: parts.queuePosition ?? null,
  };
}

/** Generations at step 0, still running, started before `d` (search attributes are set at start, so queued ones count). */
async function queuePositionOf(client: Client, d: WorkflowExecutionDescription): Promise<number | null> {
  try {
    const query = `WorkflowType = 'generation' AND ExecutionStatus = 'Running' AND OneflowStep = 0 AND StartTime < '${d.startTime.toISOString()}'`;
    return (await client.workflow.count(query)).count;
  } catch {
    return null; // visibility without counts: no estimate
  }
}

export async function generationView(
  client: Client,
  checkpoints: CheckpointReader,
  d: WorkflowExecutionDescription,
): Promise<GenerationView> {
  const parts = await generationParts(client, checkpoints, d);
  if (parts.state === 'queued') parts.queuePosition = await queuePositionOf(client, d);
  return viewOf(d, parts);
}

/** One row of a visibility listing (no store reads: cheap). */
export interface ListedExecution {
  id: string;
  runId: string;
  status: WorkflowExecutionStatusName;
  state: GenerationState;
  tenant: string | null;
  model: string | null;
  batchId: string | null;
  parentId: string | null;
  /** `OneflowState` as the workflow last published it. */
  publishedState: string | null;
  step: number;
  memo: GenerationMemo;
  createdAt: string;
  finishedAt: string | null;
}

function isoOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  const seconds = Number(ts.seconds);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_INTERNAL = 13;
const GRPC_UNKNOWN = 2;
const GRPC_DEADLINE_EXCEEDED = 4;

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

/** One page of a visibility query; the cursor is Temporal's page token, base64url. */
export async function listPage(
  client: Client,
  query: string,
  pageSize: number,
  cursor: string | undefined,
): Promise<{ rows: ListedExecution[]; nextCursor: string | null }> {
  let nextPageToken: Uint8Array | undefined;
  if (cursor) {
    nextPageToken = Buffer.from(cursor, 'base64url');
    // Temporal's SQL and Elasticsearch visibility tokens are JSON; anything else is not one of ours.
    if (!isJsonObject(Buffer.from(nextPageToken).toString('utf8'))) throw new TRPCError({ code: 'BAD_REQUEST', message: 'invalid cursor' });
  }
  let res: temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse;
  try {
    const list = () =>
      client.workflowService.listWorkflowExecutions({
        namespace: client.options.namespace,
        query,
        pageSize,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
    // A forged token can make the service fail in ways the client retries: bound that.
    res = nextPageToken ? await client.connection.withDeadline(Date.now() + 1500, list) : await list();
  } catch (error) {
    // A token Temporal cannot read is the caller's bad cursor (the service answers INVALID_ARGUMENT or INTERNAL).
    const code = (error as { code?: unknown }).code;
    if (cursor && [GRPC_INVALID_ARGUMENT, GRPC_INTERNAL, GRPC_UNKNOWN, GRPC_DEADLINE_EXCEEDED].includes(code as number))
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'invalid cursor' });
    throw error;
  }
  const seen = new Set<string>();
  const rows = res.executions.filter((e) => {
    // One row per job: runs that continued as new are listed by Temporal too.
    const id = e.execution?.workflowId ?? '';
    if (Number(e.status ?? 0) === 6 || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  const out = rows.map((e): ListedExecution => {
    const sa = e.searchAttributes?.indexedFields ?? {};
    const str = (k: string): string | null => {
      const v = decodePayload(sa[k]);
      if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : null;
      return typeof v === 'string' ? v : null;
    };
    const memo = Object.fromEntries(Object.entries(e.memo?.fields ?? {}).map(([k, v]) => [k, decodePayload(v)])) as GenerationMemo;
    const status = RAW_STATUS[e.status ?? 0] ?? 'UNKNOWN';
    let state = stateOfStatus(status);
    if (state === 'running' && !memo.rootCheckpointId && !memo.headCheckpointId && !memo.resumedFrom) state = 'queued';
    const step = decodePayload(sa[stepKey.name]);
    return {
      id: e.execution?.workflowId ?? '',
      runId: e.execution?.runId ?? '',
      status,
      state,
      tenant: str(tenantKey.name),
      model: str(modelKey.name),
      batchId: str(batchKey.name),
      parentId: str(parentKey.name),
      publishedState: str('OneflowState'),
      step: typeof step === 'number' ? step : Array.isArray(step) && typeof step[0] === 'number' ? step[0] : 0,
      memo,
      createdAt: isoOf(e.startTime) ?? new Date(0).toISOString(),
      finishedAt: isoOf(e.closeTime),
    };
  });
  const token = res.nextPageToken && res.nextPageToken.length > 0 ? Buffer.from(res.nextPageToken).toString('base64url') : null;
  return { rows: await currentRunsOnly(client, out), nextCursor: token };
}

/**
 * Drops closed runs that a later run of the same id superseded (a resumed generation's canceled,
 * failed or expired run), so a job is listed once, with its current state: visibility keeps every
 * run, and a filter such as `canceled` would match the old one. An open run is always the
 * newest; for closed rows one visibility query fetches every run of their ids.
 */
async function currentRunsOnly(client: Client, rows: ListedExecution[]): Promise<ListedExecution[]> {
  const closedIds = [...new Set(rows.filter((r) => r.status !== 'RUNNING').map((r) => r.id))];
  if (closedIds.length === 0) return rows;
  const res = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query: `WorkflowId IN (${closedIds.map(lit).join(', ')})`,
    pageSize: 1000,
  });
  const newest = new Map<string, { runId: string; start: number }>();
  for (const e of res.executions) {
    const id = e.execution?.workflowId ?? '';
    const start = Date.parse(isoOf(e.startTime) ?? '') || 0;
    const seen = newest.get(id);
    if (!seen || start > seen.start) newest.set(id, { runId: e.execution?.runId ?? '', start });
  }
  return rows.filter((r) => r.status === 'RUNNING' || (newest.get(r.id)?.runId ?? r.runId) === r.runId);
}

/** A visibility-query literal; values are schema-checked to `[A-Za-z0-9._:-]` before they get here. */
export function lit(value: string): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(value)) throw new TRPCError({ code: 'BAD_REQUEST', message: 'invalid filter value' });
  return `'${value}'`;
}
