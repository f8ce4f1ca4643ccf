import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TemporalConfigError, temporalConnectionFromEnv, type TemporalConfigIssueCode } from './temporal-connection.js';

// Shape-valid PEM blocks: the parser checks the armour, the TLS stack checks the contents.
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-temporal-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

function issues(env: Record<string, string | undefined>): { code: TemporalConfigIssueCode; variable: string }[] {
  try {
    temporalConnectionFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(TemporalConfigError);
    return (error as TemporalConfigError).issues.map(({ code, variable }) => ({ code, variable }));
  }
  throw new Error('expected a TemporalConfigError');
}

describe('temporalConnectionFromEnv', () => {
  it('defaults to the local dev server, plaintext, no credentials', () => {
    const s = temporalConnectionFromEnv({});
    expect(s.address).toBe('127.0.0.1:7233');
    expect(s.namespace).toBe('default');
    expect(s.connection).toEqual({ address: '127.0.0.1:7233', tls: false });
    expect(s.summary).toMatchObject({ tls: false, mtls: false, apiKey: false });
  });

  it('Temporal Cloud with an API key: TLS on with the system CAs, key passed to the SDK, never in the summary', () => {
    const s = temporalConnectionFromEnv({
      TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
      TEMPORAL_NAMESPACE: 'oneflow.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
    });
    expect(s.connection).toEqual({ address: 'us-east-1.aws.api.temporal.io:7233', tls: {}, apiKey: 'secret-key' });
    expect(s.namespace).toBe('oneflow.a1b2c');
    expect(s.summary).toMatchObject({ tls: true, mtls: false, apiKey: true });
    expect(JSON.stringify(s.summary)).not.toContain('secret-key');
  });

  it('mTLS from files: client pair, CA and server name', () => {
    const s = temporalConnectionFromEnv({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CERT_PATH: file('client.pem', CERT),
      TEMPORAL_TLS_KEY_PATH: file('client.key', KEY),
      TEMPORAL_TLS_CA_PATH: file('ca.pem', CA),
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal',
    });
    expect(s.connection.tls).toEqual({
      serverNameOverride: 'frontend.temporal',
      serverRootCACertificate: Buffer.from(CA),
      clientCertPair: { crt: Buffer.from(CERT), key: Buffer.from(KEY) },
    });
    expect(s.summary).toMatchObject({ tls: true, mtls: true, serverName: 'frontend.temporal' });
  });

  it('mTLS inline (a Secret as env), including newlines flattened to a literal \\n', () => {
    const s = temporalConnectionFromEnv({ TEMPORAL_TLS_CERT: CERT.replaceAll('\n', '\\n'), TEMPORAL_TLS_KEY: KEY });
    const tls = s.connection.tls;
    if (tls === false) throw new Error('TLS expected');
    expect(tls.clientCertPair?.crt.toString()).toBe(CERT);
    expect(tls.clientCertPair?.key.toString()).toBe(KEY);
  });

  it('a CA alone means server TLS with that CA; TEMPORAL_TLS=true alone means system CAs', () => {
    expect(temporalConnectionFromEnv({ TEMPORAL_TLS_CA: CA }).connection.tls).toEqual({ serverRootCACertificate: Buffer.from(CA) });
    expect(temporalConnectionFromEnv({ TEMPORAL_TLS: 'true' }).connection.tls).toEqual({});
    // cert-manager writes an empty ca.crt for a publicly trusted server: system CAs, still TLS.
    expect(temporalConnectionFromEnv({ TEMPORAL_TLS_CA_PATH: file('empty-ca.crt', '') }).connection.tls).toEqual({});
  });

  it('TEMPORAL_TLS=false keeps an API key on a plaintext connection (e.g. behind a TLS-terminating sidecar)', () => {
    expect(temporalConnectionFromEnv({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }).connection).toEqual({
      address: '127.0.0.1:7233',
      tls: false,
      apiKey: 'k',
    });
  });

  it('empty variables count as unset (an optional Secret key rendered as "")', () => {
    expect(temporalConnectionFromEnv({ TEMPORAL_API_KEY: '', TEMPORAL_TLS_CERT_PATH: '', TEMPORAL_NAMESPACE: '' }).connection).toEqual({
      address: '127.0.0.1:7233',
      tls: false,
    });
  });

  it('extra gRPC metadata, lowercased', () => {
    expect(temporalConnectionFromEnv({ TEMPORAL_GRPC_METADATA: 'X-Tenant=oneflow, x-route = blue' }).connection.metadata).toEqual({
      'x-tenant': 'oneflow',
      'x-route': 'blue',
    });
  });

  it('a certificate without its key, and a key without its certificate, are typed errors', () => {
    expect(issues({ TEMPORAL_TLS_CERT: CERT })).toEqual([{ code: 'cert-without-key', variable: 'TEMPORAL_TLS_KEY' }]);
    expect(issues({ TEMPORAL_TLS_KEY_PATH: file('only.key', KEY) })).toEqual([{ code: 'key-without-cert', variable: 'TEMPORAL_TLS_CERT' }]);
  });

  it('an unreadable file names the variable, the path and the reason', () => {
    const missing = path.join(dir, 'nope.pem');
    try {
      temporalConnectionFromEnv({ TEMPORAL_TLS_CERT_PATH: missing, TEMPORAL_TLS_KEY_PATH: file('k.key', KEY) });
      throw new Error('expected a TemporalConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(TemporalConfigError);
      const e = error as TemporalConfigError;
      expect(e.issues).toEqual([
        { variable: 'TEMPORAL_TLS_CERT_PATH', code: 'unreadable-file', message: `cannot read ${missing} (ENOENT)` },
      ]);
      expect(e.message).toContain('TEMPORAL_TLS_CERT_PATH: cannot read');
    }
  });

  it('swapped or non-PEM material is rejected before the TLS handshake', () => {
    expect(issues({ TEMPORAL_TLS_CERT: KEY, TEMPORAL_TLS_KEY: CERT })).toEqual([
      { code: 'not-pem', variable: 'TEMPORAL_TLS_CERT' },
      { code: 'not-pem', variable: 'TEMPORAL_TLS_KEY' },
    ]);
    expect(issues({ TEMPORAL_TLS_CA_PATH: file('ca.txt', 'not a certificate') })).toEqual([
      { code: 'not-pem', variable: 'TEMPORAL_TLS_CA_PATH' },
    ]);
  });

  it('reports every problem at once: both forms of one PEM, TLS off with TLS settings, bad flags and metadata', () => {
    expect(
      issues({
        TEMPORAL_TLS_CA: CA,
        TEMPORAL_TLS_CA_PATH: file('ca2.pem', CA),
        TEMPORAL_TLS: 'false',
        TEMPORAL_GRPC_METADATA: 'novalue,grpc-timeout=1',
      }),
    ).toEqual([
      { code: 'inline-and-path', variable: 'TEMPORAL_TLS_CA' },
      { code: 'tls-disabled', variable: 'TEMPORAL_TLS' },
      { code: 'bad-metadata', variable: 'TEMPORAL_GRPC_METADATA' },
      { code: 'bad-metadata', variable: 'TEMPORAL_GRPC_METADATA' },
    ]);
    expect(issues({ TEMPORAL_TLS: 'maybe' })).toEqual([{ code: 'invalid', variable: 'TEMPORAL_TLS' }]);
    expect(issues({ TEMPORAL_API_KEY: 'k', TEMPORAL_GRPC_METADATA: 'authorization=Bearer x' })).toEqual([
      { code: 'bad-metadata', variable: 'TEMPORAL_GRPC_METADATA' },
    ]);
  });
});
