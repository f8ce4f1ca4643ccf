import { proxyActivities } from '@temporalio/workflow';
import { CPU_TASK_QUEUE, WEBHOOK_NOT_CONFIGURED, type WebhookDeliveryInput } from '@oneflow/contracts';
import type { Activities } from '../activities/index.js';

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
