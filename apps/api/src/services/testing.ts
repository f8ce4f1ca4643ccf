import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import { isTrackedEnvelope, TRPCError } from '@trpc/server';
import { generationRootSchema, type BatchStatus, type GenerationWorkflowInput, type AdvanceHeartbeat } from '@oneflow/contracts';
import {
  CheckpointOwners,
  CheckpointReader,
  CheckpointStore,
  prepareDerived,
  prepareNew,
  type ReadableModel,
  type StoredCheckpoint,
} from '@oneflow/engine';
import { toyModel, withGenerated } from '@oneflow/engine/testing';
import { checkpointIdOf, isDone } from '@oneflow/sampler';
import { LocalBlobStore } from '@oneflow/store';
import { RateLimiter } from '../auth.js';
import type { InnerContext, JobDeps, TemporalGateway } from '../context.js';
import { ModelCatalog } from '../models.js';
import { appRouter } from '../routers/_app.js';
import { createCallerFactory } from '../trpc.js';
import { stateOfStatus, type Execution, type ListedExecution, type ListFilter, type StartRequest, type Workflows } from './workflows.js';

// Fakes of our own interfaces for the job services' unit tests: an in-memory `Workflows` whose
// "worker" writes real checkpoints (the engine's CheckpointStore over a temp LocalBlobStore), read
// back by the engine's real CheckpointReader. No Temporal server.

/** The toy model (engine/testing) as the API's read side serves it; a PNG is the latent's bytes. */
export const toyModels = new Map<string, ReadableModel>([
  ['toy', { ...toyModel, pngOf: (_key: string, latent: Float32Array) => Promise.resolve(Buffer.from(latent.buffer)) }],
]);

/** What the fake worker inserts at each step, in turn: `seven`, `two` (ids of the toy vocabulary). */
export const TOY_TOKENS = [6, 7] as const;

interface Run extends Execution {
  args: unknown;
  failure: string | null;
  batchAnswer: BatchStatus | null;
}

const T0 = Date.UTC(2026, 0, 1);

/**
 * `Workflows` in memory, with a fake worker: `begin` is the workflow's first task (the root
 * checkpoint, as the engine's create/derive/resume make it), `advance` writes the next steps'
 * checkpoints, `close` ends a run. Start times are one second apart, in start order.
 */
export class FakeWorkflows implements Workflows {
  /** Every start request, in order. */
  readonly started: StartRequest[] = [];
  /** Ids `cancel` was called for, in order. */
  readonly canceled: string[] = [];
  /** Called before every `describe` (a test advances a generation between two polls of `watch`). */
  beforeDescribe: ((id: string) => Promise<void> | void) | null = null;
  private readonly runs = new Map<string, Run[]>();
  private clock = 0;

  /** `owners`: where the fake worker marks every checkpoint it stores as its generation's tenant's, as the real one does. */
  constructor(
    private readonly store: CheckpointStore,
    private readonly owners: CheckpointOwners | null = null,
  ) {}

  private async own(run: Run, checkpointId: string): Promise<void> {
    if (this.owners && run.tenant) await this.owners.record(run.tenant, [checkpointId]);
  }

  private now(): Date {
    return new Date(T0 + 1000 * ++this.clock);
  }

  /** The current run of `id`; throws when there is none (a test's mistake). */
  run(id: string): Run {
    const run = this.runs.get(id)?.at(-1);
    if (!run) throw new Error(`fake: no workflow ${id}`);
    return run;
  }

  // --- Workflows

  async describe(id: string): Promise<Execution | null> {
    await this.beforeDescribe?.(id);
    const run = this.runs.get(id)?.at(-1);
    return run ? structuredClone(executionOf(run)) : null;
  }

  start(r: StartRequest): Promise<{ alreadyStarted: boolean }> {
    this.started.push(structuredClone(r));
    const current = this.runs.get(r.workflowId)?.at(-1);
    // As Temporal: a running id is reused (USE_EXISTING) or refused; a closed one only gets a new run with reuse.
    if (current && current.status === 'RUNNING') return Promise.resolve({ alreadyStarted: !r.useExisting });
    if (current && !r.reuse) return Promise.resolve({ alreadyStarted: true });
    this.add({
      id: r.workflowId,
      type: r.workflow,
      tenant: r.attributes.tenant,
      model: r.attributes.model ?? null,
      batchId: r.attributes.batchId ?? null,
      parentId: r.attributes.parentId ?? null,
      memo: structuredClone(r.memo),
      args: structuredClone(r.args),
    });
    return Promise.resolve({ alreadyStarted: false });
  }

  cancel(id: string): Promise<void> {
    this.canceled.push(id);
    return Promise.resolve();
  }

  failureMessage(e: Execution): Promise<string> {
    return Promise.resolve(this.run(e.id).failure ?? 'failed');
  }

  batchStatus(e: Execution): Promise<BatchStatus | null> {
    return Promise.resolve(structuredClone(this.run(e.id).batchAnswer));
  }

  list(filter: ListFilter, pageSize: number, cursor: string | undefined): Promise<{ rows: ListedExecution[]; nextCursor: string | null }> {
    let offset = 0;
    if (cursor !== undefined) {
      const parsed = /^o(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (!parsed) return Promise.reject(new TRPCError({ code: 'BAD_REQUEST', message: 'invalid cursor' }));
      offset = Number(parsed[1]);
    }
    const matching = [...this.runs.values()]
      .map((runs) => runs.at(-1)!)
      .filter(
        (r) =>
          r.type === filter.type &&
          (filter.tenant === undefined || r.tenant === filter.tenant) &&
          (filter.state === undefined ||
            stateOfStatus(r.status) === filter.state ||
            (filter.state === 'queued' && r.status === 'RUNNING')) &&
          (filter.publishedState === undefined || r.publishedState === filter.publishedState) &&
          (filter.model === undefined || r.model === filter.model) &&
          (filter.batchId === undefined || r.batchId === filter.batchId) &&
          (filter.parentId === undefined || r.parentId === filter.parentId),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    const page = matching.slice(offset, offset + pageSize).map((r): ListedExecution => ({
      id: r.id,
      runId: r.runId,
      status: r.status,
      tenant: r.tenant,
      model: r.model,
      batchId: r.batchId,
      parentId: r.parentId,
      publishedState: r.publishedState,
      step: r.memo.step ?? 0,
      memo: structuredClone(r.memo),
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
    const next = offset + pageSize < matching.length ? Buffer.from(`o${offset + pageSize}`).toString('base64url') : null;
    return Promise.resolve({ rows: page, nextCursor: next });
  }

  countWaitingBefore(t: Date): Promise<number | null> {
    let n = 0;
    for (const runs of this.runs.values()) {
      const r = runs.at(-1)!;
      if (r.type === 'generation' && r.status === 'RUNNING' && (r.memo.step ?? 0) === 0 && r.createdAt < t) n += 1;
    }
    return Promise.resolve(n);
  }

  // --- the fake worker

  private add(
    o: Pick<Run, 'id' | 'type' | 'tenant' | 'model' | 'batchId' | 'parentId' | 'memo' | 'args'> & { parentWorkflowId?: string },
  ): Run {
    const runs = this.runs.get(o.id) ?? [];
    const run: Run = {
      ...o,
      runId: `${o.id}-run-${runs.length + 1}`,
      status: 'RUNNING',
      publishedState: o.type === 'batch' ? 'running' : null,
      parentWorkflowId: o.parentWorkflowId ?? null,
      heartbeat: null,
      awaitingWorker: true,
      createdAt: this.now(),
      finishedAt: null,
      failure: null,
      batchAnswer: null,
    };
    runs.push(run);
    this.runs.set(o.id, runs);
    return run;
  }

  /**
   * A batch item as the batch workflow starts it: a child workflow, with no tenant of its own
   * until its first task (`begin`).
   */
  startChild(batchId: string, index: number): string {
    const batch = this.run(batchId);
    const input = batch.args as { items: { generationId: string; root: unknown }[]; stepsPerActivity: number; tenant: string };
    const item = input.items[index]!;
    const args: GenerationWorkflowInput = {
      generationId: item.generationId,
      root: generationRootSchema.parse(item.root),
      stepsPerActivity: input.stepsPerActivity,
      tenant: input.tenant,
      batchId,
    };
    this.add({
      id: item.generationId,
      type: 'generation',
      tenant: null,
      model: null,
      batchId,
      parentId: null,
      memo: {},
      args,
      parentWorkflowId: batchId,
    });
    return item.generationId;
  }

  /** The generation's first task: its root checkpoint (new: the request's state; branch: derived, child of the base; resume: the kept one). */
  async begin(id: string): Promise<StoredCheckpoint> {
    const run = this.run(id);
    const input = run.args as GenerationWorkflowInput;
    const root = generationRootSchema.parse(input.root);
    let checkpoint: StoredCheckpoint;
    if (root.kind === 'new') checkpoint = await this.store.put((await prepareNew(toyModels, root.request)).state, null);
    else if (root.kind === 'resume') checkpoint = await this.store.get(root.checkpointId);
    else {
      const base = await this.store.get(root.checkpointId);
      const change = { ...(root.overrides ? { overrides: root.overrides } : {}), ...(root.refine ? { refine: root.refine } : {}) };
      checkpoint = await this.store.put(prepareDerived(toyModels, base, change).state, base.id);
    }
    run.tenant = input.tenant ?? run.tenant;
    await this.own(run, checkpoint.id);
    run.model = checkpoint.state.spec.name;
    run.awaitingWorker = false;
    run.memo = {
      ...run.memo,
      rootCheckpointId: checkpoint.id,
      headCheckpointId: checkpoint.id,
      step: checkpoint.state.step,
      parentGenerationId: root.kind === 'checkpoint' ? (root.parentGenerationId ?? null) : null,
    };
    return checkpoint;
  }

  /**
   * `n` more steps (each inserts the next of {@link TOY_TOKENS}; the text clock moves 1/steps),
   * one checkpoint each, child of the one before. `inFlight`: only heartbeated, as an `advance`
   * activity does before the workflow records its result. Completes the run when the state is done.
   */
  async advance(id: string, n = 1, o: { inFlight?: boolean } = {}): Promise<StoredCheckpoint> {
    const run = this.run(id);
    let head = await this.store.get(run.heartbeat?.checkpointId ?? run.memo.headCheckpointId ?? '');
    for (let i = 0; i < n && !isDone(head.state); i++) {
      const s = head.state;
      const t = s.tText + 1 / s.params.steps;
      const next = withGenerated(s, [TOY_TOKENS[s.step % TOY_TOKENS.length]!], t > 1 - 1e-9 ? 1 : t, s.step + 1);
      head = await this.store.put(next, head.id);
      await this.own(run, head.id);
    }
    const heartbeat: AdvanceHeartbeat = { step: head.state.step, checkpointId: head.id };
    if (o.inFlight) run.heartbeat = heartbeat;
    else {
      run.heartbeat = null;
      run.memo = { ...run.memo, headCheckpointId: head.id, step: head.state.step };
      if (isDone(head.state)) this.close(id, 'COMPLETED');
    }
    return head;
  }

  /** Runs a generation to its end: `begin` when it has not, then every step. */
  async finish(id: string): Promise<StoredCheckpoint> {
    if (this.run(id).memo.headCheckpointId == null) await this.begin(id);
    return this.advance(id, 10_000);
  }

  /** Ends the current run: completed, canceled, failed (with `failure`), timed out… */
  close(id: string, status: Exclude<WorkflowExecutionStatusName, 'RUNNING'>, failure: string | null = null): void {
    const run = this.run(id);
    run.status = status;
    run.failure = failure;
    run.heartbeat = null;
    run.finishedAt = this.now();
  }

  /** What the batch workflow answers to its status query (null: no worker answers). */
  setBatchStatus(id: string, status: BatchStatus | null, publishedState?: string): void {
    const run = this.run(id);
    run.batchAnswer = status;
    if (publishedState !== undefined) run.publishedState = publishedState;
  }
}

function executionOf(r: Run): Execution {
  return {
    id: r.id,
    runId: r.runId,
    type: r.type,
    status: r.status,
    tenant: r.tenant,
    model: r.model,
    batchId: r.batchId,
    parentId: r.parentId,
    publishedState: r.publishedState,
    parentWorkflowId: r.parentWorkflowId,
    memo: r.memo,
    heartbeat: r.heartbeat,
    awaitingWorker: r.awaitingWorker,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  };
}

const createCaller = createCallerFactory(appRouter);

/** A gateway the job services must not use: they take `ctx.workflows`. */
const unusedGateway: TemporalGateway = {
  address: 'fake:0',
  namespace: 'fake',
  ping: () => Promise.resolve(true),
  client: () => Promise.reject(new Error('the job services must use ctx.workflows, not the gateway')),
};

export interface TestApi {
  workflows: FakeWorkflows;
  store: CheckpointStore;
  /** The ownership markers the fake worker writes and the services read. */
  owners: CheckpointOwners;
  jobs: JobDeps;
  /** A caller of the app router as `tenant`'s key; `signal` is the request's (a subscription stops when it aborts). */
  as(tenant: string, o?: { signal?: AbortSignal }): ReturnType<typeof createCaller>;
  close(): void;
}

/** The app router over the fakes, with an inner context per tenant; `acme` has a webhook secret. */
export async function testApi(
  o: { watchIntervalMs?: number; checkpoints?: JobDeps['checkpoints']; minActivityMs?: number } = {},
): Promise<TestApi> {
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-api-unit-'));
  const blobs = new LocalBlobStore(dir, { idOf: checkpointIdOf });
  const store = new CheckpointStore(blobs);
  const owners = new CheckpointOwners(blobs.records);
  const workflows = new FakeWorkflows(store, owners);
  const jobs: JobDeps = {
    checkpoints: o.checkpoints ?? new CheckpointReader(store, toyModels),
    models: await ModelCatalog.load([]),
    stepsPerActivity: 4,
    ...(o.minActivityMs !== undefined ? { minActivityMs: o.minActivityMs } : {}),
    watchIntervalMs: o.watchIntervalMs ?? 1,
    limiter: new RateLimiter(1_000_000),
    webhookTenants: new Set(['acme']),
    owners,
  };
  const inner = (tenant: string): InnerContext => ({
    temporal: unusedGateway,
    workflows,
    version: 'test',
    startedAt: T0,
    jobs,
    principal: { tenant, keyId: `${tenant}-key` },
  });
  return {
    workflows,
    store,
    owners,
    jobs,
    as: (tenant, options) => createCaller(inner(tenant), options),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** How a call ended: 'resolved', or the TRPCError code it was refused with (other errors are rethrown). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

/** The message of a refused call (its TRPCError code and message). */
export async function refusalOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (error) {
    if (error instanceof TRPCError) return { code: error.code, message: error.message };
    throw error;
  }
  return { code: 'resolved', message: '' };
}

/**
 * The events of a subscription called through `createCaller`, until it ends. A caller yields
 * what the procedure yields, `tracked()` envelopes (`[id, data, symbol]`), though its type is the
 * client's `{ id, data }`; both read the same here.
 */
export async function collectTracked<T>(stream: AsyncIterable<unknown>, onEach?: (id: string) => void): Promise<{ id: string; data: T }[]> {
  const out: { id: string; data: T }[] = [];
  for await (const value of stream) {
    const event = isTrackedEnvelope<T>(value) ? { id: String(value[0]), data: value[1] } : (value as { id: string; data: T });
    out.push(event);
    onEach?.(event.id);
  }
  return out;
}
