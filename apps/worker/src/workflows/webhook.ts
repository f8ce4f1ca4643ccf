import { proxyActivities, sleep } from '@temporalio/workflow';
import { CPU_TASK_QUEUE, WEBHOOK_NOT_CONFIGURED, type ExpiryWatchInput, type WebhookDeliveryInput } from '@oneflow/contracts';
import type { Activities } from '../activities/index.js';

/** How long past a deadline the expiry watch looks (Temporal closes the run at the deadline). */
const EXPIRY_GRACE_MS = 3000;

/**
 * One webhook message: the `deliverWebhook` activity on the CPU queue, retried with exponential
 * backoff (1 s, 2 s, 4 s … capped at 10 min; 15 attempts ≈ 1.5 h by default). A generation starts
 * it as its own workflow (abandoned on close), so a slow or dead receiver never holds the
 * generation's final state back, and a crashed worker loses no delivery: the retry is Temporal's.
 */
export async function webhook(input: WebhookDeliveryInput): Promise<{ status: number; attempt: number }> {
  const { deliverWebhook } = proxyActivities<Activities>({
    taskQueue: CPU_TASK_QUEUE,
    startToCloseTimeout: '30 seconds',
    retry: {
      initialInterval: input.retry?.initialIntervalMs ?? 1000,
      backoffCoefficient: 2,
      maximumInterval: input.retry?.maximumIntervalMs ?? 10 * 60_000,
      maximumAttempts: input.retry?.maximumAttempts ?? 15,
      nonRetryableErrorTypes: [WEBHOOK_NOT_CONFIGURED],
    },
  });
  return deliverWebhook({ tenant: input.tenant, target: input.target, messageId: input.messageId, payload: input.payload });
}

/**
 * `generation.expired`: Temporal ends a generation at its deadline (execution timeout) without
 * running any of its code, so a generation with a deadline and a webhook starts this watch as it
 * starts (abandoned). It sleeps until a few seconds past the deadline, then reads the generation
 * back: if its run chain ended `TIMED_OUT`, it delivers like {@link webhook}; if it ended
 * otherwise (or was resumed into a new chain that is not timed out), it does nothing.
 */
export async function expiryWatch(input: ExpiryWatchInput): Promise<'delivered' | 'not expired'> {
  const { generationOutcome } = proxyActivities<Activities>({
    taskQueue: CPU_TASK_QUEUE,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
  });
  const wait = Date.parse(input.deadlineAt) + EXPIRY_GRACE_MS - Date.now();
  if (wait > 0) await sleep(wait);
  for (let look = 0; look < 4; look++) {
    let o = await generationOutcome(input.generationId);
    // Resumed since: look at the chain this watch belongs to (its last run, via the first).
    if (o.firstRunId !== input.firstRunId) o = await generationOutcome(input.generationId, input.firstRunId);
    if (o.status === 'TIMED_OUT') {
      return webhook({
        tenant: input.tenant,
        target: input.target,
        messageId: `msg_${o.runId}`,
        payload: {
          type: 'generation.expired',
          timestamp: new Date().toISOString(),
          data: {
            id: input.generationId,
            state: 'expired',
            batchId: input.batchId,
            step: o.step,
            text: '',
            imageClocks: [],
            checkpointId: o.checkpointId,
            error: 'deadline passed before it finished',
          },
        },
      }).then(() => 'delivered' as const);
    }
    if (o.status !== 'RUNNING') return 'not expired';
    await sleep(EXPIRY_GRACE_MS); // the server's clock may run a little behind ours
  }
  return 'not expired';
}
