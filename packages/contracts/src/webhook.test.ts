import { describe, expect, it } from 'vitest';
import { webhookSchema, webhookSecretsFromConfig } from './webhook.js';

const A = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const B = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

describe('webhookSecretsFromConfig', () => {
  it('reads ONEFLOW_WEBHOOK_SECRETS and the key file entries, by tenant', () => {
    const m = webhookSecretsFromConfig(` acme:${A} , umbrella:${B}`, [{ tenant: 'acme', webhookSecret: A }, { tenant: 'initech' }]);
    expect([...m.entries()]).toEqual([
      ['acme', A],
      ['umbrella', B],
    ]);
    expect(webhookSecretsFromConfig(undefined).size).toBe(0);
  });

  it('refuses malformed entries, short or non-whsec secrets and two secrets for one tenant, without echoing secrets', () => {
    expect(() => webhookSecretsFromConfig('acme')).toThrow(/expected tenant:whsec_/);
    expect(() => webhookSecretsFromConfig('acme:whsec_c2hvcnQ=')).toThrow(/at least 24 bytes/);
    expect(() => webhookSecretsFromConfig(`acme:${A.slice(6)}`)).toThrow(/whsec_/);
    let message = '';
    try {
      webhookSecretsFromConfig(`acme:${A}`, [{ tenant: 'acme', webhookSecret: B }]);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/tenant acme has two different webhook secrets/);
    expect(message).not.toContain(A.slice(6, 20));
  });
});

describe('webhookSchema', () => {
  it('accepts http(s) URLs up to 2048 characters, optional events', () => {
    expect(webhookSchema.parse({ url: 'https://example.com/hooks' })).toEqual({ url: 'https://example.com/hooks' });
    expect(webhookSchema.parse({ url: 'http://127.0.0.1:8080/x', events: ['generation.failed'] }).events).toEqual(['generation.failed']);
  });
  it('refuses other schemes, credentials, long URLs, unknown events and keys', () => {
    for (const bad of [
      { url: 'ftp://example.com/x' },
      { url: 'javascript:alert(1)' },
      { url: 'https://u:p@example.com/' },
      { url: `https://example.com/${'a'.repeat(2048)}` },
      { url: 'https://example.com/', events: [] },
      { url: 'https://example.com/', events: ['generation.started'] },
      { url: 'https://example.com/', secret: 'x' },
    ])
      expect(webhookSchema.safeParse(bad).success, JSON.stringify(bad).slice(0, 80)).toBe(false);
  });
});
