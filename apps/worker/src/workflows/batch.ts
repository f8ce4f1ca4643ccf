import {
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  defineQuery,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  CPU_TASK_QUEUE,
  GENERATION_STATES,
  MAX_BATCH_ITEMS,
  statusQueryName,
  type BatchItemStatus,
  type BatchState,
  type BatchStatus,
  type BatchWorkflowInput,
  type GenerationState,
  batchKey,
  stateKey,
  tenantKey,
} from '@oneflow/contracts';
import { generation } from './generation.js';

export const batchStatusQuery = defineQuery<BatchStatus>(statusQueryName);

function failureMessage(error: unknown): string {
  let e: unknown = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(error);
}

/**
 * Many generations as child workflows, at most `concurrency` at once. Items fail independently;
 * canceling the batch cancels the running children (each keeps its newest checkpoint) and starts
 * no more.
 */
export async function batch(input: BatchWorkflowInput): Promise<BatchStatus> {
  if (input.items.length > MAX_BATCH_ITEMS) throw new Error(`a batch holds at most ${MAX_BATCH_ITEMS} items, got ${input.items.length}`);
  const items: BatchItemStatus[] = input.items.map((it) => ({ generationId: it.generationId, state: 'queued', final: null, error: null }));
  let state: BatchState = 'running';

  const status = (): BatchStatus => {
    const counts = Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as Record<GenerationState, number>;
    for (const it of items) counts[it.state] += 1;
    return { batchId: input.batchId, state, items: items.map((it) => ({ ...it })), counts };
  };
  setHandler(batchStatusQuery, status);
  const publish = () =>
    upsertSearchAttributes([
      { key: stateKey, value: state },
      { key: batchKey, value: input.batchId },
      ...(input.tenant ? [{ key: tenantKey, value: input.tenant }] : []),
    ]);
  publish();

  const runItem = async (i: number): Promise<void> => {
    const item = items[i]!;
    const spec = input.items[i]!;
    item.state = 'running';
    try {
      const result = await executeChild(generation, {
        workflowId: spec.generationId,
        taskQueue: CPU_TASK_QUEUE,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        args: [
          {
            generationId: spec.generationId,
            root: spec.root,
            stepsPerActivity: input.stepsPerActivity,
            ...(input.minActivityMs !== undefined ? { minActivityMs: input.minActivityMs } : {}),
            batchId: input.batchId,
            ...(input.tenant ? { tenant: input.tenant } : {}),
            ...(input.webhook ? { webhook: input.webhook } : {}),
            ...(input.heartbeatTimeoutSeconds ? { heartbeatTimeoutSeconds: input.heartbeatTimeoutSeconds } : {}),
          },
        ],
      });
      item.state = 'succeeded';
      item.final = result.final;
    } catch (error) {
      item.state = isCancellation(error) ? 'canceled' : 'failed';
      item.error = failureMessage(error);
    }
  };

  const running = new Set<Promise<void>>();
  for (let i = 0; i < items.length; i++) {
    while (running.size >= input.concurrency) await Promise.race(running);
    if (CancellationScope.current().consideredCancelled) break;
    const p: Promise<void> = runItem(i).finally(() => running.delete(p));
    running.add(p);
  }
  await Promise.all(running);

  if (CancellationScope.current().consideredCancelled) {
    for (const it of items) if (it.state === 'queued') it.state = 'canceled';
    state = 'canceled';
    publish();
    throw new CancelledFailure('batch canceled');
  }
  const ok = items.filter((it) => it.state === 'succeeded').length;
  state = ok === items.length ? 'succeeded' : ok === 0 ? 'failed' : 'partial';
  publish();
  return status();
}
