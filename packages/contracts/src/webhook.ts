import { z } from 'zod';

/** The events a webhook can ask for: a generation reached a final state. */
export const WEBHOOK_EVENTS = ['generation.succeeded', 'generation.failed', 'generation.canceled', 'generation.expired'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** Failure type of a delivery that can never succeed (no signing secret for the tenant): never retried. */
export const WEBHOOK_NOT_CONFIGURED = 'WebhookNotConfigured';

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** Where (and for which events) a generation's final state is POSTed. */
export const webhookSchema = z
  .object({
    url: z
      .string()
      .max(MAX_WEBHOOK_URL_LENGTH)
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'a webhook url is http or https')
      .refine((u) => new URL(u).username === '' && new URL(u).password === '', 'a webhook url carries no credentials'),
    /** Default: every event. */
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length).optional(),
  })
  .strict();
export type WebhookRequest = z.infer<typeof webhookSchema>;

/** What a workflow carries about its webhook: never the signing secret (the worker has it, by tenant). */
export interface WebhookTarget {
  url: string;
  events: WebhookEventType[];
}

/**
 * The body of every delivery (Standard Webhooks shape `{type, timestamp, data}`); the same bytes
 * on every retry of one message, signed with `webhook-id`, `webhook-timestamp`, `webhook-signature`.
 */
export interface WebhookPayload {
  type: WebhookEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: {
    id: string;
    state: 'succeeded' | 'failed' | 'canceled' | 'expired';
    batchId: string | null;
    step: number;
    text: string;
    /** Clock of each generated image; PNGs are at `/generations/<id>/images/<k>.png`. */
    imageClocks: number[];
    checkpointId: string | null;
    error: string | null;
  };
}

/** Input of the `webhook` workflow (one delivery, retried by its activity's retry policy). */
export interface WebhookDeliveryInput {
  tenant: string;
  target: WebhookTarget;
  /** `webhook-id`: the same on every attempt, so receivers can drop duplicates. */
  messageId: string;
  payload: WebhookPayload;
  /** Retry policy of the delivery (defaults in the workflow). */
  retry?: { initialIntervalMs?: number; maximumIntervalMs?: number; maximumAttempts?: number };
}

/**
 * Input of the `expiryWatch` workflow: a generation with a deadline and a webhook starts it (abandoned)
 * when it starts, because Temporal ends a generation at its deadline without running any of its code.
 */
export interface ExpiryWatchInput {
  generationId: string;
  /** The run that started the watch (the first of its continue-as-new chain). */
  firstRunId: string;
  /** When the generation's execution timeout ends it (ISO 8601). */
  deadlineAt: string;
  tenant: string;
  target: WebhookTarget;
  batchId: string | null;
}

/** What `generationOutcome` reads back of a generation (its newest run). */
export interface GenerationOutcome {
  status: string;
  runId: string;
  firstRunId: string;
  step: number;
  checkpointId: string | null;
}

/** A Standard Webhooks secret: `whsec_` + base64 of at least 24 random bytes. */
export const webhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'a webhook secret is whsec_ followed by the base64 of at least 24 bytes');

/**
 * The signing secrets per tenant, from `ONEFLOW_WEBHOOK_SECRETS` (`tenant:whsec_…,…`) and the
 * `webhookSecret` of API-key file entries. The API (to refuse a webhook it could not sign) and the
 * worker (to sign) read the same configuration; a tenant with two different secrets is an error.
 */
export function webhookSecretsFromConfig(
  inline: string | undefined,
  keyFileEntries: readonly { tenant: string; webhookSecret?: string | undefined }[] = [],
): Map<string, string> {
  const out = new Map<string, string>();
  const add = (tenant: string, secret: string, where: string) => {
    const s = webhookSecretSchema.safeParse(secret);
    if (!s.success) throw new Error(`${where}: ${s.error.issues[0]?.message ?? 'invalid secret'} (tenant ${tenant})`);
    const seen = out.get(tenant);
    if (seen !== undefined && seen !== secret) throw new Error(`${where}: tenant ${tenant} has two different webhook secrets`);
    out.set(tenant, secret);
  };
  for (const item of (inline ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const i = item.indexOf(':');
    if (i <= 0) throw new Error('ONEFLOW_WEBHOOK_SECRETS: expected tenant:whsec_…');
    add(item.slice(0, i), item.slice(i + 1), 'ONEFLOW_WEBHOOK_SECRETS');
  }
  for (const e of keyFileEntries) if (e.webhookSecret !== undefined) add(e.tenant, e.webhookSecret, 'ONEFLOW_API_KEYS_FILE');
  return out;
}
