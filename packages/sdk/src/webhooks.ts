import { timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type { WebhookPayload } from '@oneflow/contracts';

/** The body of a OneFlow webhook: `{ type, timestamp, data }` (a generation's final state). */
export type WebhookEvent = WebhookPayload;

/** Why a webhook was refused. */
export type WebhookErrorReason =
  'missing-headers' | 'bad-timestamp' | 'stale-timestamp' | 'future-timestamp' | 'bad-signature' | 'bad-payload';

/** A webhook that is not from the API (bad signature, wrong secret) or too old to trust. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly reason: WebhookErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** `standardwebhooks` (CommonJS): signs with the secret's decoding and encoding of the standard. */
const { Webhook } = createRequire(import.meta.url)('standardwebhooks') as {
  Webhook: new (secret: string) => { sign(msgId: string, timestamp: Date, payload: string): string };
};

type Headers = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: Headers, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function')
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : record[key];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Checks a webhook the API sent (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) and returns its event.
 * Pass the body exactly as received (bytes or string, not re-serialized JSON).
 *
 * @param secret the tenant's `whsec_…` secret (as configured for the API and the worker)
 * @param toleranceSeconds how far `webhook-timestamp` may be from now (default 300): replays of
 *   older messages are refused
 * @throws WebhookVerificationError with a `reason`
 */
export function verifyWebhook(options: {
  payload: string | Uint8Array;
  headers: Headers;
  secret: string;
  toleranceSeconds?: number;
  /** The current time (tests). */
  now?: Date;
}): WebhookEvent {
  const id = header(options.headers, 'webhook-id');
  const timestamp = header(options.headers, 'webhook-timestamp');
  const signatures = header(options.headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new WebhookVerificationError('missing-headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
  if (!/^\d{1,12}$/.test(timestamp))
    throw new WebhookVerificationError(
      'bad-timestamp',
      `webhook-timestamp is not a Unix time in seconds: ${JSON.stringify(timestamp.slice(0, 40))}`,
    );
  const sent = Number(timestamp);
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (now - sent > tolerance)
    throw new WebhookVerificationError('stale-timestamp', `webhook-timestamp is ${now - sent} s old (tolerance ${tolerance} s)`);
  if (sent - now > tolerance)
    throw new WebhookVerificationError('future-timestamp', `webhook-timestamp is ${sent - now} s in the future (tolerance ${tolerance} s)`);
  const body = typeof options.payload === 'string' ? options.payload : Buffer.from(options.payload).toString('utf8');
  const expected = Buffer.from(new Webhook(options.secret).sign(id, new Date(sent * 1000), body).split(',')[1]!, 'utf8');
  // Several space-separated signatures may be sent (secret rotation); any v1 match is enough.
  const ok = signatures.split(' ').some((versioned) => {
    const [version, signature] = versioned.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new WebhookVerificationError('bad-signature', 'no webhook-signature matches this body and secret');
  try {
    return JSON.parse(body) as WebhookEvent;
  } catch {
    throw new WebhookVerificationError('bad-payload', 'the signed body is not JSON');
  }
}
