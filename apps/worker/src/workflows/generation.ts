import {
  ActivityCancellationType,
  CancellationScope,
  CancelledFailure,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  isCancellation,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  adaptiveStepsPerActivity,
  CONTINUE_AS_NEW_HISTORY_BYTES,
  CONTINUE_AS_NEW_HISTORY_EVENTS,
  CPU_TASK_QUEUE,
  GPU_TASK_QUEUE,
  type AdvanceResult,
  NON_RETRYABLE_FAILURES,
  statusQueryName,
  type CheckpointSummary,
  type GenerationResult,
  type GenerationMemo,
  type GenerationState,
  type GenerationStatus,
  type GenerationWorkflowInput,
  type WebhookPayload,
  batchKey,
  modelKey,
  parentKey,
  stateKey,
  stepKey,
  tenantKey,
} from '@oneflow/contracts';
import type { Activities } from '../activities/index.js';
import { expiryWatch, webhook } from './webhook.js';

export const statusQuery = defineQuery<GenerationStatus>(statusQueryName);

const retry = { initialInterval: '1 second', maximumInterval: '20 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES] };

const { startGeneration } = proxyActivities<Activities>({
  taskQueue: GPU_TASK_QUEUE,
  // A root checkpoint takes milliseconds; a worker that died while making it is retried soon.
  startToCloseTimeout: '10 seconds',
  retry,
});

/** The `advance` activity; its heartbeat timeout bounds how long a dead worker goes unnoticed. */
function advanceActivity(heartbeatTimeoutSeconds: number) {
  return proxyActivities<Activities>({
    taskQueue: GPU_TASK_QUEUE,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    // Let the activity stop between steps and hand back its newest checkpoint.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  }).advance;
}

/**
 * Starts the delivery of the generation's final state to its webhook (if it asked for this event)
 * as a workflow of its own, abandoned when this one closes: the generation ends now, the delivery
 * retries on its own schedule. Runs even while this workflow is being canceled. Nothing here runs
 * for a generation without a webhook, so recorded histories replay unchanged.
 */
async function notify(
  input: GenerationWorkflowInput,
  state: WebhookPayload['data']['state'],
  head: CheckpointSummary | null,
  error: string | null,
): Promise<void> {
  const target = input.webhook;
  const type = `generation.${state}` as const;
  if (!target || !target.events.includes(type)) return;
  const { runId } = workflowInfo();
  const payload: WebhookPayload = {
    type,
    timestamp: new Date().toISOString(),
    data: {
      id: input.generationId,
      state,
      batchId: input.batchId ?? null,
      step: head?.step ?? 0,
      text: head?.text ?? '',
      imageClocks: head?.imageClocks ?? [],
      checkpointId: head?.checkpointId ?? null,
      error,
    },
  };
  try {
    await CancellationScope.nonCancellable(() =>
      startChild(webhook, {
        workflowId: `${input.generationId}-webhook-${runId}`,
        taskQueue: CPU_TASK_QUEUE,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [{ tenant: input.tenant ?? 'default', target, messageId: `msg_${runId}`, payload }],
      }),
    );
  } catch (err) {
    // The generation's own outcome stands even if its notification could not be scheduled.
    log.error('webhook delivery not started', {
      generationId: input.generationId,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/**
 * A generation with a deadline and a webhook for `generation.expired` starts an `expiryWatch` (its
 * first run only): at the deadline Temporal closes this workflow without running any more of it.
 */
async function watchDeadline(input: GenerationWorkflowInput): Promise<void> {
  const target = input.webhook;
  if (!target || !input.deadlineAt || input.carry || !target.events.includes('generation.expired')) return;
  const { runId, firstExecutionRunId } = workflowInfo();
  if (runId !== firstExecutionRunId) return;
  try {
    await startChild(expiryWatch, {
      workflowId: `${input.generationId}-expiry-${runId}`,
      taskQueue: CPU_TASK_QUEUE,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [
        {
          generationId: input.generationId,
          firstRunId: runId,
          deadlineAt: input.deadlineAt,
          tenant: input.tenant ?? 'default',
          target,
          batchId: input.batchId ?? null,
        },
      ],
    });
  } catch (err) {
    log.error('expiry watch not started', { generationId: input.generationId, error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * A generation: `advance` activities on the GPU queue until the sampler's stop rule holds. The
 * workflow holds checkpoint ids only; every step's checkpoint is in the blob store.
 */
export async function generation(input: GenerationWorkflowInput): Promise<GenerationResult> {
  let state: GenerationState = 'running';
  let error: string | null = null;
  let head: CheckpointSummary | null = input.carry?.head ?? null;
  let root: CheckpointSummary | null = input.carry?.root ?? null;
  const timings = {
    activities: input.carry?.activities ?? 0,
    stepMs: input.carry?.stepMs ?? 0,
    runs: (input.carry?.runs ?? 0) + 1,
  };
  const parentGenerationId = input.root.kind === 'checkpoint' ? (input.root.parentGenerationId ?? null) : null;

  setHandler(statusQuery, (): GenerationStatus => ({
    generationId: input.generationId,
    state,
    step: head?.step ?? 0,
    tText: head?.tText ?? 0,
    text: head?.text ?? '',
    imageClocks: head?.imageClocks ?? [],
    headCheckpointId: head?.checkpointId ?? null,
    rootCheckpointId: root?.checkpointId ?? null,
    parentGenerationId,
    error,
    timings: { ...timings },
  }));

  const publish = (): void => {
    upsertSearchAttributes([
      { key: stateKey, value: state },
      { key: stepKey, value: head?.step ?? 0 },
      ...(head ? [{ key: modelKey, value: head.model }] : []),
      ...(input.tenant ? [{ key: tenantKey, value: input.tenant }] : []),
      ...(input.batchId ? [{ key: batchKey, value: input.batchId }] : []),
      ...(parentGenerationId ? [{ key: parentKey, value: parentGenerationId }] : []),
    ]);
    upsertMemo({
      headCheckpointId: head?.checkpointId ?? null,
      rootCheckpointId: root?.checkpointId ?? null,
      step: head?.step ?? 0,
      parentGenerationId,
    } satisfies GenerationMemo);
  };
  publish();
  await watchDeadline(input);

  const advance = advanceActivity(input.heartbeatTimeoutSeconds ?? 20);
  let current: CheckpointSummary;
  try {
    if (head === null) {
      head = root = await startGeneration(input.root);
      publish();
    }
    current = head;
    // adaptive (minActivityMs): from the recorded results, so replays decide the same
    let stepsPerActivity = input.carry?.stepsPerActivity ?? input.stepsPerActivity;
    while (!current.done) {
      const result: AdvanceResult = await advance({ checkpointId: current.checkpointId, maxSteps: stepsPerActivity });
      if (input.minActivityMs !== undefined) stepsPerActivity = adaptiveStepsPerActivity(result, input.minActivityMs, stepsPerActivity);
      head = current = result.head;
      timings.activities += 1;
      timings.stepMs += result.ms;
      publish();
      if (result.stoppedBy === 'cancelled' || CancellationScope.current().consideredCancelled) break;
      const every = input.continueAsNewEvery;
      const { historyLength, historySize } = workflowInfo();
      const historyFull =
        historyLength >= (input.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_HISTORY_EVENTS) || historySize >= CONTINUE_AS_NEW_HISTORY_BYTES;
      if (!current.done && (historyFull || (every !== undefined && timings.activities % every === 0))) {
        return await continueAsNew<typeof generation>({
          ...input,
          carry: {
            head: current,
            root: root ?? current,
            activities: timings.activities,
            stepMs: timings.stepMs,
            runs: timings.runs,
            ...(input.minActivityMs !== undefined ? { stepsPerActivity } : {}),
          },
        });
      }
    }
  } catch (err) {
    // Continuing as new is how this run hands over, not a failure: the next run takes it from here.
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      state = 'canceled';
      publish();
      await notify(input, state, head, null);
      throw err;
    }
    state = 'failed';
    error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    publish();
    await notify(input, state, head, error);
    throw err;
  }

  if (CancellationScope.current().consideredCancelled) {
    state = 'canceled';
    publish();
    await notify(input, state, head, null);
    throw new CancelledFailure('generation canceled; its newest checkpoint is kept');
  }
  state = 'succeeded';
  publish();
  await notify(input, state, current, null);
  return { generationId: input.generationId, final: current, rootCheckpointId: (root ?? current).checkpointId, timings };
}
