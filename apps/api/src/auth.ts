import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { webhookSecretSchema } from '@oneflow/contracts';

/** Who is calling: every generation and batch belongs to the caller's tenant. */
export interface Principal {
  tenant: string;
  /** The key's id (its configured `id`, else its hash prefix; never the key): logs and the rate limit's bucket. */
  keyId: string;
}

export const tenantSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'a tenant is 1-63 letters, digits, - or _');

/** A key's name in logs and rate-limit buckets: never the key itself. */
export const keyIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a key id is 1-64 letters, digits, ., - or _');

const keyEntrySchema = z
  .object({
    tenant: tenantSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex characters'),
    /** The key's name in logs (default: the first 16 hex characters of its hash). */
    id: keyIdSchema.optional(),
    ratePerMinute: z.number().int().min(1).max(1_000_000).optional(),
    /** Signs this tenant's webhooks (`whsec_…`); the worker reads it from the same file. */
    webhookSecret: webhookSecretSchema.optional(),
    /** A revoked key is refused like an unknown one (401), and its use is logged by id. */
    revoked: z.boolean().optional(),
  })
  .strict();
export type ApiKeyEntry = z.infer<typeof keyEntrySchema>;

/** SHA-256 (hex) of an API key: what the configuration stores. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The id an entry is known by in logs. */
export function keyIdOf(entry: Pick<ApiKeyEntry, 'id' | 'sha256'>): string {
  return entry.id ?? entry.sha256.slice(0, 16);
}

/** What the key ring reports (the API's logger): key ids and tenants, never keys or hashes. */
export interface KeyRingLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

function parseEntries(inline: string | undefined, file: string | undefined): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  for (const item of (inline ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [tenant, sha256, ...rest] = item.split(':');
    if (rest.length > 0) throw new Error(`ONEFLOW_API_KEYS: expected tenant:sha256, got ${JSON.stringify(item.slice(0, 80))}`);
    entries.push(keyEntrySchema.parse({ tenant, sha256 }));
  }
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      // JSON.parse quotes the text around the fault, and this text holds hashes and webhook secrets.
      if (error instanceof SyntaxError) throw new Error(`ONEFLOW_API_KEYS_FILE ${file} is not valid JSON`);
      throw error;
    }
    entries.push(...z.array(keyEntrySchema).parse(json));
  }
  return entries;
}

/**
 * The configured keys, by hash. A tenant may have any number of active keys (rotation: add the new
 * key, move clients to it, then revoke or remove the old one). With no key configured the API is
 * open (the embedded dev stack): every caller is tenant `default`.
 *
 * Built by {@link KeyRing.fromConfig}, the ring re-reads its key file when the file changes
 * (looked at most every `reloadMs`, on a request), so keys are added and revoked without a
 * restart; a file that no longer parses keeps the keys the ring had, and is reported.
 */
export class KeyRing {
  private byHash = new Map<string, ApiKeyEntry>();
  private source: { inline: string | undefined; file: string; mtimeMs: number; size: number; checkedAt: number } | null = null;
  private logger: KeyRingLogger | undefined;
  private reloadMs = 2000;
  private now: () => number = Date.now;

  constructor(entries: readonly ApiKeyEntry[]) {
    this.byHash = KeyRing.index(entries);
  }

  /** Validated entries by hash: a hash or an id configured twice is an error (one key, one tenant). */
  private static index(entries: readonly ApiKeyEntry[]): Map<string, ApiKeyEntry> {
    const byHash = new Map<string, ApiKeyEntry>();
    const ids = new Set<string>();
    for (const raw of entries) {
      const e = keyEntrySchema.parse(raw);
      if (byHash.has(e.sha256)) throw new Error(`API key ${keyIdOf(e)} is configured twice (the same sha256)`);
      if (ids.has(keyIdOf(e))) throw new Error(`two API keys have the id ${keyIdOf(e)}`);
      byHash.set(e.sha256, e);
      ids.add(keyIdOf(e));
    }
    return byHash;
  }

  static fromConfig(
    inline: string | undefined,
    file: string | undefined,
    options: { logger?: KeyRingLogger; reloadMs?: number; now?: () => number } = {},
  ): KeyRing {
    const ring = new KeyRing(parseEntries(inline, file));
    ring.logger = options.logger;
    if (options.reloadMs !== undefined) ring.reloadMs = options.reloadMs;
    if (options.now) ring.now = options.now;
    if (file) {
      const st = statSync(file);
      ring.source = { inline, file, mtimeMs: st.mtimeMs, size: st.size, checkedAt: ring.now() };
    }
    ring.logger?.info({ keys: ring.describe() }, 'api keys loaded');
    return ring;
  }

  /** Key ids by tenant, revoked ones marked: what logs may show. */
  describe(): { id: string; tenant: string; revoked?: true }[] {
    return [...this.byHash.values()].map((e) => ({ id: keyIdOf(e), tenant: e.tenant, ...(e.revoked ? { revoked: true as const } : {}) }));
  }

  /** Re-reads the key file when its modification time or size changed since the last look. */
  private maybeReload(): void {
    const src = this.source;
    if (!src || this.now() - src.checkedAt < this.reloadMs) return;
    src.checkedAt = this.now();
    try {
      const st = statSync(src.file);
      if (st.mtimeMs === src.mtimeMs && st.size === src.size) return;
      // Reported once per change of the file, even when it does not parse.
      src.mtimeMs = st.mtimeMs;
      src.size = st.size;
      const next = KeyRing.index(parseEntries(src.inline, src.file));
      // An emptied file must not turn a keyed API into an open one.
      if (next.size === 0) throw new Error('the new configuration has no key (the API would be open)');
      this.byHash = next;
      this.logger?.info({ keys: this.describe() }, 'api keys reloaded');
    } catch (error) {
      this.logger?.warn(
        { file: src.file, err: error instanceof Error ? error.message.slice(0, 300) : String(error) },
        'api key file not reloaded: keeping the keys loaded before',
      );
    }
  }

  /** The configured entries (hashes, tenants, limits, webhook secrets). */
  get entries(): ApiKeyEntry[] {
    return [...this.byHash.values()];
  }

  get open(): boolean {
    return this.byHash.size === 0;
  }

  /** The principal of an `Authorization: Bearer <key>` header, or null (unknown, revoked or missing key). */
  authenticate(authorization: string | undefined): (Principal & { ratePerMinute?: number }) | null {
    this.maybeReload();
    if (this.open) return { tenant: 'default', keyId: 'open' };
    const m = /^Bearer\s+(\S{1,512})$/i.exec(authorization ?? '');
    if (!m) return null;
    const entry = this.byHash.get(hashApiKey(m[1]!));
    if (!entry) return null;
    if (entry.revoked) {
      this.logger?.warn({ keyId: keyIdOf(entry), tenant: entry.tenant }, 'revoked API key refused');
      return null;
    }
    return { tenant: entry.tenant, keyId: keyIdOf(entry), ...(entry.ratePerMinute ? { ratePerMinute: entry.ratePerMinute } : {}) };
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
