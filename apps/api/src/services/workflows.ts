import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { defaultPayloadConverter, type SearchAttributePair } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { TRPCError } from '@trpc/server';
import {
  batchKey,
  CPU_TASK_QUEUE,
  modelKey,
  parentKey,
  parseAdvanceHeartbeat,
  parseGenerationMemo,
  stateKey,
  statusQueryName,
  stepKey,
  tenantKey,
  WORKFLOWS,
  type AdvanceHeartbeat,
  type BatchStatus,
  type GenerationMemo,
  type GenerationState,
} from '@oneflow/contracts';
import type { TemporalGateway } from '../context.js';

// What the services need from Temporal, as our own interface (`Workflows`), and its Temporal
// implementation. Visibility queries are written here only; services pass filters.

/** A job's workflow execution (DescribeWorkflowExecution), as the services read it. */
export interface Execution {
  id: string;
  runId: string;
  /** Workflow type: `generation`, `batch`, … */
  type: string;
  status: WorkflowExecutionStatusName;
  tenant: string | null;
  model: string | null;
  batchId: string | null;
  parentId: string | null;
  /** `OneflowState` as the workflow last published it. */
  publishedState: string | null;
  /** The batch that started this generation as its child, if any. */
  parentWorkflowId: string | null;
  memo: GenerationMemo;
  /** The newest heartbeat of a pending `advance` activity: the step in flight. */
  heartbeat: AdvanceHeartbeat | null;
  /**
   * No activity has started or been retried, and this is the first run: a generation without a
   * checkpoint is then waiting for a worker (queued).
   */
  awaitingWorker: boolean;
  createdAt: Date;
  finishedAt: Date | null;
}

/** One row of a visibility listing (no store reads: cheap). */
export interface ListedExecution {
  id: string;
  runId: string;
  status: WorkflowExecutionStatusName;
  tenant: string | null;
  model: string | null;
  batchId: string | null;
  parentId: string | null;
  publishedState: string | null;
  step: number;
  memo: GenerationMemo;
  createdAt: string;
  finishedAt: string | null;
}

/** Which executions a listing wants; every value is schema-checked to `[A-Za-z0-9._:-]`. */
export interface ListFilter {
  type: 'generation' | 'batch';
  tenant?: string | undefined;
  /** By Temporal status (`queued` and `running` both match a running execution). */
  state?: GenerationState | undefined;
  /** `OneflowState` (batches). */
  publishedState?: string | undefined;
  model?: string | undefined;
  batchId?: string | undefined;
  parentId?: string | undefined;
}

export interface StartRequest {
  workflow: 'generation' | 'batch';
  workflowId: string;
  args: unknown;
  attributes: { tenant: string; step?: number; model?: string; parentId?: string; batchId?: string };
  memo: GenerationMemo;
  /** A second start of a running id returns it instead of failing. */
  useExisting: boolean;
  /** Resume: a new run of a closed id. */
  reuse: boolean;
  executionTimeoutMs?: number;
}

/** Temporal as the services use it; tests pass their own. */
export interface Workflows {
  /** The current run of `id`, or null when there is none. */
  describe(id: string): Promise<Execution | null>;
  /** Starts a workflow; `alreadyStarted` when a run of the id exists (with `useExisting`, that run stands). */
  start(request: StartRequest): Promise<{ alreadyStarted: boolean }>;
  cancel(id: string): Promise<void>;
  /** Why a closed, failed (or timed-out, terminated) run failed. */
  failureMessage(e: Execution): Promise<string>;
  /** A batch's status: its result, or its answer to the status query; null when no worker answers. */
  batchStatus(e: Execution): Promise<BatchStatus | null>;
  /** One page of a listing, newest first; the cursor is opaque (base64url). */
  list(filter: ListFilter, pageSize: number, cursor: string | undefined): Promise<{ rows: ListedExecution[]; nextCursor: string | null }>;
  /** Generations still running at step 0 that started before `t` (null: this visibility store cannot count). */
  countWaitingBefore(t: Date): Promise<number | null>;
}

/** Temporal's execution status → the states users know (`queued` is the services' refinement of `running`). */
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

/** A visibility-query literal; values are schema-checked to `[A-Za-z0-9._:-]` before they get here. */
export function lit(value: string): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(value)) throw new TRPCError({ code: 'BAD_REQUEST', message: 'invalid filter value' });
  return `'${value}'`;
}

/** The visibility query of a filter. */
export function visibilityQuery(f: ListFilter): string {
  const parts = [`WorkflowType = ${lit(f.type)}`];
  if (f.tenant !== undefined) parts.push(`OneflowTenant = ${lit(f.tenant)}`);
  parts.push(`ExecutionStatus != 'ContinuedAsNew'`);
  const byState: Record<GenerationState, string> = {
    queued: `ExecutionStatus = 'Running'`,
    running: `ExecutionStatus = 'Running'`,
    succeeded: `ExecutionStatus = 'Completed'`,
    failed: `(ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated')`,
    canceled: `ExecutionStatus = 'Canceled'`,
    expired: `ExecutionStatus = 'TimedOut'`,
  };
  if (f.state) parts.push(byState[f.state]);
  if (f.publishedState) parts.push(`OneflowState = ${lit(f.publishedState)}`);
  if (f.model) parts.push(`OneflowModel = ${lit(f.model)}`);
  if (f.batchId) parts.push(`OneflowBatchId = ${lit(f.batchId)}`);
  if (f.parentId) parts.push(`OneflowParentId = ${lit(f.parentId)}`);
  return parts.join(' AND ');
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

function decodePayload(p: temporal.api.common.v1.IPayload | null | undefined): unknown {
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return undefined;
  }
}

function isoOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  const seconds = Number(ts.seconds);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_INTERNAL = 13;
const GRPC_UNKNOWN = 2;
const GRPC_DEADLINE_EXCEEDED = 4;
const ACTIVITY_STARTED = 2;

function executionOf(d: WorkflowExecutionDescription): Execution {
  let heartbeat: AdvanceHeartbeat | null = null;
  const pending = d.raw.pendingActivities ?? [];
  for (const a of pending) {
    const hb = parseAdvanceHeartbeat(decodePayload(a.heartbeatDetails?.payloads?.[0]));
    if (hb && (!heartbeat || hb.step > heartbeat.step)) heartbeat = hb;
  }
  // A run continued-as-new from an earlier one, before its first workflow task, is not waiting;
  // with no activity pending, either no workflow task has run yet (a short history), or the root
  // activity has just completed and the workflow has not recorded it yet (running).
  const first = d.raw.workflowExecutionInfo?.firstRunId;
  const awaitingWorker =
    !(first && first !== d.runId) &&
    !pending.some((a) => Number(a.state) === ACTIVITY_STARTED || (a.attempt ?? 1) > 1) &&
    (pending.length > 0 || d.historyLength <= 3);
  return {
    id: d.workflowId,
    runId: d.runId,
    type: d.type,
    status: d.status.name,
    tenant: d.typedSearchAttributes.get(tenantKey) ?? null,
    model: d.typedSearchAttributes.get(modelKey) ?? null,
    batchId: d.typedSearchAttributes.get(batchKey) ?? null,
    parentId: d.typedSearchAttributes.get(parentKey) ?? null,
    publishedState: d.typedSearchAttributes.get(stateKey) ?? null,
    parentWorkflowId: d.parentExecution?.workflowId ?? null,
    memo: parseGenerationMemo(d.memo),
    heartbeat,
    awaitingWorker,
    createdAt: d.startTime,
    finishedAt: d.closeTime ?? null,
  };
}

/** {@link Workflows} on the Temporal namespace of `gateway`. */
export function temporalWorkflows(gateway: Pick<TemporalGateway, 'client'>): Workflows {
  const client = (): Promise<Client> => gateway.client();

  /**
   * Drops closed runs that a later run of the same id superseded (a resumed generation's canceled,
   * failed or expired run), so a job is listed once, with its current state: visibility keeps every
   * run, and a filter such as `canceled` would match the old one. An open run is always the
   * newest; for closed rows one visibility query fetches every run of their ids.
   */
  async function currentRunsOnly(c: Client, rows: ListedExecution[]): Promise<ListedExecution[]> {
    const closedIds = [...new Set(rows.filter((r) => r.status !== 'RUNNING').map((r) => r.id))];
    if (closedIds.length === 0) return rows;
    const res = await c.workflowService.listWorkflowExecutions({
      namespace: c.options.namespace,
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

  return {
    async describe(id) {
      const c = await client();
      try {
        return executionOf(await c.workflow.getHandle(id).describe());
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return null;
        throw error;
      }
    },

    async start(r) {
      const c = await client();
      const a = r.attributes;
      const attrs: SearchAttributePair[] = [{ key: tenantKey, value: a.tenant }];
      if (a.step !== undefined) attrs.push({ key: stepKey, value: a.step });
      if (a.model) attrs.push({ key: modelKey, value: a.model });
      if (a.parentId) attrs.push({ key: parentKey, value: a.parentId });
      if (a.batchId) attrs.push({ key: batchKey, value: a.batchId });
      try {
        await c.workflow.start(r.workflow === 'generation' ? WORKFLOWS.generation : WORKFLOWS.batch, {
          taskQueue: CPU_TASK_QUEUE,
          workflowId: r.workflowId,
          args: [r.args],
          workflowIdReusePolicy: r.reuse ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
          workflowIdConflictPolicy: r.useExisting ? 'USE_EXISTING' : 'FAIL',
          typedSearchAttributes: attrs,
          memo: r.memo,
          ...(r.executionTimeoutMs ? { workflowExecutionTimeout: r.executionTimeoutMs } : {}),
        });
        return { alreadyStarted: false };
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) return { alreadyStarted: true };
        throw error;
      }
    },

    async cancel(id) {
      await (await client()).workflow.getHandle(id).cancel();
    },

    async failureMessage(e) {
      if (e.status === 'TERMINATED') return 'terminated';
      if (e.status === 'TIMED_OUT') return 'deadline passed before it finished';
      try {
        await (await client()).workflow.getHandle(e.id, e.runId).result();
        return 'failed';
      } catch (error) {
        let cause: unknown = error;
        if (cause instanceof WorkflowFailedError) cause = cause.cause;
        while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
        return cause instanceof Error ? cause.message : String(cause);
      }
    },

    async batchStatus(e) {
      const c = await client();
      const handle = c.workflow.getHandle(e.id);
      if (e.status === 'COMPLETED') return (await handle.result()) as BatchStatus;
      // Running or closed otherwise: the workflow answers its status query (a closed one by
      // replay) if a worker does within a few seconds.
      try {
        return await c.connection.withDeadline(Date.now() + 5000, () => handle.query<BatchStatus>(statusQueryName));
      } catch {
        return null;
      }
    },

    async list(filter, pageSize, cursor) {
      const c = await client();
      let nextPageToken: Uint8Array | undefined;
      if (cursor) {
        nextPageToken = Buffer.from(cursor, 'base64url');
        // Temporal's SQL and Elasticsearch visibility tokens are JSON; anything else is not one of ours.
        if (!isJsonObject(Buffer.from(nextPageToken).toString('utf8')))
          throw new TRPCError({ code: 'BAD_REQUEST', message: 'invalid cursor' });
      }
      const query = visibilityQuery(filter);
      let res: temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse;
      try {
        const list = () =>
          c.workflowService.listWorkflowExecutions({
            namespace: c.options.namespace,
            query,
            pageSize,
            ...(nextPageToken ? { nextPageToken } : {}),
          });
        // A forged token can make the service fail in ways the client retries: bound that.
        res = nextPageToken ? await c.connection.withDeadline(Date.now() + 1500, list) : await list();
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
        const step = decodePayload(sa[stepKey.name]);
        return {
          id: e.execution?.workflowId ?? '',
          runId: e.execution?.runId ?? '',
          status: RAW_STATUS[e.status ?? 0] ?? 'UNKNOWN',
          tenant: str(tenantKey.name),
          model: str(modelKey.name),
          batchId: str(batchKey.name),
          parentId: str(parentKey.name),
          publishedState: str(stateKey.name),
          step: typeof step === 'number' ? step : Array.isArray(step) && typeof step[0] === 'number' ? step[0] : 0,
          memo: parseGenerationMemo(Object.fromEntries(Object.entries(e.memo?.fields ?? {}).map(([k, v]) => [k, decodePayload(v)]))),
          createdAt: isoOf(e.startTime) ?? new Date(0).toISOString(),
          finishedAt: isoOf(e.closeTime),
        };
      });
      const token = res.nextPageToken && res.nextPageToken.length > 0 ? Buffer.from(res.nextPageToken).toString('base64url') : null;
      return { rows: await currentRunsOnly(c, out), nextCursor: token };
    },

    async countWaitingBefore(t) {
      try {
        const query = `WorkflowType = 'generation' AND ExecutionStatus = 'Running' AND OneflowStep = 0 AND StartTime < '${t.toISOString()}'`;
        return (await (await client()).workflow.count(query)).count;
      } catch {
        return null; // visibility without counts: no estimate
      }
    },
  };
}
