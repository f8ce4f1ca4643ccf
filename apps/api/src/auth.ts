import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { webhookSecretSchema } from '@oneflow/contracts';

/** Who is calling: every generation and batch belongs to the caller's tenant. */
export interface Principal {
  tenant: string;
  /** The key's hash prefix (never the key): the rate limit's bucket. */
  keyId: string;
}

export const tenantSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'a tenant is 1-63 letters, digits, - or _');

const keyEntrySchema = z
  .object({
    tenant: tenantSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex characters'),
    ratePerMinute: z.number().int().min(1).max(1_000_000).optional(),
    /** Signs this tenant's webhooks (`whsec_…`); the worker reads it from the same file. */
    webhookSecret: webhookSecretSchema.optional(),
  })
  .strict();
export type ApiKeyEntry = z.infer<typeof keyEntrySchema>;

/** SHA-256 (hex) of an API key: what the configuration stores. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * The configured keys, by hash. With no key configured the API is open (the embedded dev stack):
 * every caller is tenant `default`.
 */
export class KeyRing {
  private readonly byHash = new Map<string, ApiKeyEntry>();
  constructor(entries: readonly ApiKeyEntry[]) {
    for (const e of entries) this.byHash.set(e.sha256, keyEntrySchema.parse(e));
  }

  static fromConfig(inline: string | undefined, file: string | undefined): KeyRing {
    const entries: ApiKeyEntry[] = [];
    for (const item of (inline ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [tenant, sha256, ...rest] = item.split(':');
      if (rest.length > 0) throw new Error(`ONEFLOW_API_KEYS: expected tenant:sha256, got ${JSON.stringify(item.slice(0, 80))}`);
      entries.push(keyEntrySchema.parse({ tenant, sha256 }));
    }
    if (file) entries.push(...z.array(keyEntrySchema).parse(JSON.parse(readFileSync(file, 'utf8'))));
    return new KeyRing(entries);
  }

  /** The configured entries (hashes, tenants, limits, webhook secrets). */
  get entries(): ApiKeyEntry[] {
    return [...this.byHash.values()];
  }

  get open(): boolean {
    return this.byHash.size === 0;
  }

  /** The principal of an `Authorization: Bearer <key>` header, or null (unknown or missing key). */
  authenticate(authorization: string | undefined): (Principal & { ratePerMinute?: number }) | null {
    if (this.open) return { tenant: 'default', keyId: 'open' };
    const m = /^Bearer\s+(\S{1,512})$/i.exec(authorization ?? '');
    if (!m) return null;
    const hash = hashApiKey(m[1]!);
    const entry = this.byHash.get(hash);
    if (!entry) return null;
    return { tenant: entry.tenant, keyId: hash.slice(0, 16), ...(entry.ratePerMinute ? { ratePerMinute: entry.ratePerMinute } : {}) };
  }
}

/** A token bucket per key: `perMinute` sustained, a tenth of it (at least 10) as burst. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token; false when the key is over its limit. */
  take(keyId: string, perMinute = this.perMinute): boolean {
    const burst = Math.max(10, Math.ceil(perMinute / 10));
    const t = this.now();
    const b = this.buckets.get(keyId) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 60_000) * perMinute);
    b.at = t;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(keyId, b);
    return ok;
  }
}
