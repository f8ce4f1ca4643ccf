import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashApiKey, KeyRing, RateLimiter } from './auth.js';

describe('API keys', () => {
  it('knows keys by their SHA-256 only, from the environment and a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-keys-'));
    try {
      const file = path.join(dir, 'keys.json');
      writeFileSync(file, JSON.stringify([{ tenant: 'umbrella', sha256: hashApiKey('sk-u'), ratePerMinute: 30 }]));
      const ring = KeyRing.fromConfig(`acme:${hashApiKey('sk-a')}, beta:${hashApiKey('sk-b')}`, file);
      expect(ring.open).toBe(false);
      expect(ring.authenticate('Bearer sk-a')).toEqual({ tenant: 'acme', keyId: hashApiKey('sk-a').slice(0, 16) });
      expect(ring.authenticate('bearer sk-b')?.tenant).toBe('beta');
      expect(ring.authenticate('Bearer sk-u')).toMatchObject({ tenant: 'umbrella', ratePerMinute: 30 });
      expect(ring.authenticate('Bearer sk-x')).toBeNull();
      expect(ring.authenticate('sk-a')).toBeNull();
      expect(ring.authenticate(undefined)).toBeNull();
      expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses malformed configuration', () => {
    expect(() => KeyRing.fromConfig('acme:not-a-hash', undefined)).toThrow();
    expect(() => KeyRing.fromConfig(`bad tenant:${hashApiKey('k')}`, undefined)).toThrow();
    expect(() => KeyRing.fromConfig(`a:${hashApiKey('k')}:extra`, undefined)).toThrow(/tenant:sha256/);
  });

  it('is open (tenant default) with no key configured', () => {
    expect(KeyRing.fromConfig(undefined, undefined).authenticate(undefined)).toEqual({ tenant: 'default', keyId: 'open' });
  });
});

describe('rate limiter', () => {
  it('allows a burst, then the sustained rate, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(600, () => now); // 10/s, burst 60
    const taken = Array.from({ length: 70 }, () => limiter.take('a')).filter(Boolean).length;
    expect(taken).toBe(60);
    expect(limiter.take('b')).toBe(true);
    now += 1000;
    expect(Array.from({ length: 20 }, () => limiter.take('a')).filter(Boolean).length).toBe(10);
    // A per-key rate overrides the default.
    expect(Array.from({ length: 20 }, () => limiter.take('c', 60)).filter(Boolean).length).toBe(10);
  });
});

describe('key rotation and revocation', () => {
  const k = (key: string, tenant: string, more: Record<string, unknown> = {}) => ({ tenant, sha256: hashApiKey(key), ...more });
  function ringOnFile(entries: object[]) {
    const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-keys-'));
    const file = path.join(dir, 'keys.json');
    // Written and renamed into place, as the operations guide says: a reader never sees half a file.
    const write = (next: object[] | string) => {
      writeFileSync(`${file}.tmp`, typeof next === 'string' ? next : JSON.stringify(next));
      renameSync(`${file}.tmp`, file);
    };
    write(entries);
    let now = 0;
    const logs: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      info: (fields: object, msg: string) => logs.push({ level: 'info', fields: fields as Record<string, unknown>, msg }),
      warn: (fields: object, msg: string) => logs.push({ level: 'warn', fields: fields as Record<string, unknown>, msg }),
    };
    const ring = KeyRing.fromConfig(undefined, file, { logger, reloadMs: 1000, now: () => now });
    return { ring, write, logs, tick: (ms: number) => (now += ms), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it('a tenant has several active keys at once, each known by its id', () => {
    const ring = new KeyRing([
      k('sk-old', 'acme', { id: 'acme-2026-01' }),
      k('sk-new', 'acme', { id: 'acme-2026-12' }),
      k('sk-u', 'umbrella'),
    ]);
    expect(ring.authenticate('Bearer sk-old')).toEqual({ tenant: 'acme', keyId: 'acme-2026-01' });
    expect(ring.authenticate('Bearer sk-new')).toEqual({ tenant: 'acme', keyId: 'acme-2026-12' });
    expect(ring.authenticate('Bearer sk-u')).toEqual({ tenant: 'umbrella', keyId: hashApiKey('sk-u').slice(0, 16) });
    expect(ring.describe()).toEqual([
      { id: 'acme-2026-01', tenant: 'acme' },
      { id: 'acme-2026-12', tenant: 'acme' },
      { id: hashApiKey('sk-u').slice(0, 16), tenant: 'umbrella' },
    ]);
  });

  it('refuses the same key twice, the same id twice, and bad ids', () => {
    expect(() => new KeyRing([k('sk-a', 'acme'), k('sk-a', 'umbrella')])).toThrow(/configured twice/);
    expect(() => new KeyRing([k('sk-a', 'acme', { id: 'x' }), k('sk-b', 'acme', { id: 'x' })])).toThrow('two API keys have the id x');
    expect(() => new KeyRing([k('sk-a', 'acme', { id: 'has space' })])).toThrow(/key id/);
  });

  it('rotates without a restart: the new key works as soon as the file lists it, the revoked one gets 401 and is logged by id', () => {
    const f = ringOnFile([k('sk-old', 'acme', { id: 'acme-old' })]);
    try {
      expect(f.logs[0]).toEqual({ level: 'info', fields: { keys: [{ id: 'acme-old', tenant: 'acme' }] }, msg: 'api keys loaded' });
      // 1. add the new key beside the old one
      f.write([k('sk-old', 'acme', { id: 'acme-old' }), k('sk-new', 'acme', { id: 'acme-new' })]);
      expect(f.ring.authenticate('Bearer sk-new')).toBeNull(); // not looked at yet (at most every reloadMs)
      f.tick(1000);
      expect(f.ring.authenticate('Bearer sk-new')).toEqual({ tenant: 'acme', keyId: 'acme-new' });
      expect(f.ring.authenticate('Bearer sk-old')).toEqual({ tenant: 'acme', keyId: 'acme-old' });
      // 2. clients moved: revoke the old key
      f.write([k('sk-old', 'acme', { id: 'acme-old', revoked: true }), k('sk-new', 'acme', { id: 'acme-new' })]);
      f.tick(1000);
      expect(f.ring.authenticate('Bearer sk-old')).toBeNull();
      expect(f.ring.authenticate('Bearer sk-new')?.keyId).toBe('acme-new');
      expect(f.logs.at(-1)).toEqual({ level: 'warn', fields: { keyId: 'acme-old', tenant: 'acme' }, msg: 'revoked API key refused' });
      // 3. or remove it: the same 401
      f.write([k('sk-new', 'acme', { id: 'acme-new' })]);
      f.tick(1000);
      expect(f.ring.authenticate('Bearer sk-old')).toBeNull();
      expect(f.ring.describe()).toEqual([{ id: 'acme-new', tenant: 'acme' }]);
      // Logs name keys by id only: never a key, never a hash.
      const logged = JSON.stringify(f.logs);
      for (const secret of ['sk-old', 'sk-new', hashApiKey('sk-old'), hashApiKey('sk-new')]) expect(logged).not.toContain(secret);
    } finally {
      f.cleanup();
    }
  });

  it('a file that does not parse, or lists no key, keeps the keys loaded before (and says so once)', () => {
    const secret = `whsec_${'A'.repeat(43)}=`;
    const f = ringOnFile([k('sk-a', 'acme', { id: 'acme-a', webhookSecret: secret })]);
    try {
      f.write(`[{"tenant":"acme","sha256":"${hashApiKey('sk-a')}","webhookSecret":"${secret}"`);
      f.tick(1000);
      expect(f.ring.authenticate('Bearer sk-a')?.keyId).toBe('acme-a');
      f.tick(1000);
      expect(f.ring.authenticate('Bearer sk-a')?.keyId).toBe('acme-a');
      expect(f.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
      expect(f.logs.at(-1)?.msg).toBe('api key file not reloaded: keeping the keys loaded before');
      expect(JSON.stringify(f.logs)).not.toContain(secret);
      f.write([]);
      f.tick(1000);
      expect(f.ring.open).toBe(false);
      expect(f.ring.authenticate(undefined)).toBeNull();
      expect(String(f.logs.at(-1)?.fields['err'])).toContain('the API would be open');
    } finally {
      f.cleanup();
    }
  });
});
