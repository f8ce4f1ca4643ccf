import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
