import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_NOT_CONFIGURED, type GenerationOutcome, type WebhookDeliveryInput } from '@oneflow/contracts';
import { WEBHOOK_TARGET_REFUSED, webhookTargetPolicyFromEnv, type WebhookTargetPolicy } from '@oneflow/contracts/webhook-target';
import type { Logger } from 'pino';
import { postPinned, systemResolver, TargetRefusedError, type HostResolver } from './outbound-http.js';

/** How long one POST may take before the attempt counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface WebhookDeps {
  logger: Logger;
  /** Signing secret (`whsec_…`) per tenant; the workflow input never carries it. */
  webhookSecrets?: ReadonlyMap<string, string>;
  /** The clock of `webhook-timestamp` (tests). */
  now?: () => Date;
  /** Which targets may be reached; default: `ONEFLOW_WEBHOOK_ALLOW` (public addresses plus what it lists). */
  targetPolicy?: WebhookTargetPolicy;
  /** Name resolution of webhook hosts (default: the system resolver). */
  resolver?: HostResolver;
}

export function createWebhookActivities({
  logger,
  webhookSecrets,
  now = () => new Date(),
  targetPolicy,
  resolver = systemResolver,
}: WebhookDeps) {
  // Read as the worker starts: a malformed ONEFLOW_WEBHOOK_ALLOW stops it there, not at a delivery.
  const policy = targetPolicy ?? webhookTargetPolicyFromEnv();
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
     * throws (a 3xx too: redirects are not followed), and the activity's retry policy tries again
     * with exponential backoff; the body and `webhook-id` are the same on every attempt, the
     * timestamp (and so the signature) is fresh. A target the policy refuses (a non-public address,
     * after resolution) fails without retries; the POST goes to the very address that was checked.
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
      let status: number;
      try {
        ({ status } = await postPinned(input.target.url, {
          headers: {
            'content-type': 'application/json',
            'user-agent': 'oneflow-webhooks/0.1',
            'webhook-id': input.messageId,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signature,
          },
          body,
          policy,
          resolver,
          signal: AbortSignal.any([AbortSignal.timeout(REQUEST_TIMEOUT_MS), Context.current().cancellationSignal]),
        }));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof TargetRefusedError) {
          logger.warn({ messageId: input.messageId, attempt, err: message }, 'webhook target refused');
          throw ApplicationFailure.nonRetryable(message, WEBHOOK_TARGET_REFUSED);
        }
        logger.warn({ messageId: input.messageId, attempt, err: message }, 'webhook delivery failed');
        throw new Error(`webhook POST failed: ${message}`);
      }
      // A redirect is a failed attempt like any other non-2xx: following it could lead anywhere.
      if (status < 200 || status >= 300) {
        logger.warn({ messageId: input.messageId, attempt, status }, 'webhook receiver refused');
        throw new Error(`webhook receiver answered ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`);
      }
      logger.info({ messageId: input.messageId, attempt, status, type: input.payload.type }, 'webhook delivered');
      return { status, attempt };
    },
  };
}
