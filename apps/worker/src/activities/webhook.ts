import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_NOT_CONFIGURED, type GenerationOutcome, type WebhookDeliveryInput } from '@oneflow/contracts';
import type { Logger } from 'pino';

/** How long one POST may take before the attempt counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface WebhookDeps {
  logger: Logger;
  /** Signing secret (`whsec_…`) per tenant; the workflow input never carries it. */
  webhookSecrets?: ReadonlyMap<string, string>;
  /** The clock of `webhook-timestamp` (tests). */
  now?: () => Date;
}

export function createWebhookActivities({ logger, webhookSecrets, now = () => new Date() }: WebhookDeps) {
  return {
    /** How a generation's newest run stands (status, step, head), through the worker's own client. */
    async generationOutcome(generationId: string, runId?: string): Promise<GenerationOutcome> {
      const d = await Context.current().client.workflow.getHandle(generationId, runId).describe();
      const memo = (d.memo ?? {}) as { step?: number; headCheckpointId?: string | null; resumedFrom?: string };
      return {
        status: d.status.name,
        runId: d.runId,
        firstRunId: d.raw.workflowExecutionInfo?.firstRunId ?? d.runId,
        step: memo.step ?? 0,
        checkpointId: memo.headCheckpointId ?? memo.resumedFrom ?? null,
      };
    },

    /**
     * One attempt of a signed POST (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
     * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). Anything but a 2xx
     * throws, and the activity's retry policy tries again with exponential backoff; the body and
     * `webhook-id` are the same on every attempt, the timestamp (and so the signature) is fresh.
     */
    async deliverWebhook(
      input: Pick<WebhookDeliveryInput, 'tenant' | 'target' | 'messageId' | 'payload'>,
    ): Promise<{ status: number; attempt: number }> {
      const secret = webhookSecrets?.get(input.tenant);
      if (!secret)
        throw ApplicationFailure.nonRetryable(`no webhook signing secret is configured for tenant ${input.tenant}`, WEBHOOK_NOT_CONFIGURED);
      const attempt = Context.current().info.attempt;
      const body = JSON.stringify(input.payload);
      const at = now();
      const signature = new Webhook(secret).sign(input.messageId, at, body);
      let res: Response;
      try {
        res = await fetch(input.target.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'oneflow-webhooks/0.1',
            'webhook-id': input.messageId,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signature,
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.any([AbortSignal.timeout(REQUEST_TIMEOUT_MS), Context.current().cancellationSignal]),
        });
        // The receiver's answer is not ours to keep; drain it so the connection is reused.
        await res.arrayBuffer().catch(() => undefined);
      } catch (error) {
        logger.warn(
          { messageId: input.messageId, attempt, err: error instanceof Error ? error.message : String(error) },
          'webhook delivery failed',
        );
        throw new Error(`webhook POST failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (res.status < 200 || res.status >= 300) {
        logger.warn({ messageId: input.messageId, attempt, status: res.status }, 'webhook receiver refused');
        throw new Error(`webhook receiver answered ${res.status}`);
      }
      logger.info({ messageId: input.messageId, attempt, status: res.status, type: input.payload.type }, 'webhook delivered');
      return { status: res.status, attempt };
    },
  };
}
