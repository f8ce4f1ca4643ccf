import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWebhookAllowlist, PUBLIC_ONLY } from '@oneflow/contracts/webhook-target';
import { postPinned, resolveTarget, TargetRefusedError, type HostResolver, type ResolvedAddress } from './outbound-http.js';

/** A real local HTTP server that records what it got and answers `answer()`. */
async function server(answer: () => { status: number; headers?: Record<string, string> }) {
  const got: { headers: IncomingHttpHeaders; body: string; url: string }[] = [];
  const s: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), url: req.url ?? '' });
      const a = answer();
      res.writeHead(a.status, a.headers).end('ignored body');
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { got, port: (s.address() as AddressInfo).port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** Our resolver seam: a fixed table of names, counting the lookups. */
function tableResolver(table: Record<string, string[] | (() => string[])>) {
  const calls: string[] = [];
  const resolver: HostResolver = async (host) => {
    calls.push(host);
    const entry = table[host];
    if (!entry) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    return (typeof entry === 'function' ? entry() : entry).map((address): ResolvedAddress => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
  };
  return { resolver, calls };
}

const post = (url: string, policy = PUBLIC_ONLY, resolver: HostResolver = tableResolver({}).resolver) =>
  postPinned(url, {
    headers: { 'content-type': 'application/json' },
    body: '{"ok":true}',
    policy,
    resolver,
    signal: AbortSignal.timeout(5000),
  });

let receiver: Awaited<ReturnType<typeof server>>;
let elsewhere: Awaited<ReturnType<typeof server>>;
let redirectTo = '';
beforeAll(async () => {
  elsewhere = await server(() => ({ status: 204 }));
  receiver = await server(() => (redirectTo ? { status: 302, headers: { location: redirectTo } } : { status: 204 }));
});
afterAll(async () => {
  await receiver.close();
  await elsewhere.close();
});

describe('outbound webhook HTTP', () => {
  it('a name that resolves to a private or loopback address is refused before anything connects', async () => {
    const { resolver, calls } = tableResolver({
      'hooks.example.test': ['10.1.2.3'],
      'sneaky.example.test': ['127.0.0.1'],
      'metadata.example.test': ['169.254.169.254'],
      'v6.example.test': ['fd00:ec2::254'],
      'mixed.example.test': ['93.184.216.34', '127.0.0.1'],
    });
    const before = receiver.got.length;
    await expect(post(`http://hooks.example.test:${receiver.port}/`, PUBLIC_ONLY, resolver)).rejects.toThrow(
      'webhook host hooks.example.test resolves to 10.1.2.3 is private',
    );
    await expect(post(`http://sneaky.example.test:${receiver.port}/`, PUBLIC_ONLY, resolver)).rejects.toThrow(/127\.0\.0\.1 is loopback/);
    await expect(post('http://metadata.example.test/', PUBLIC_ONLY, resolver)).rejects.toThrow(/169\.254\.169\.254 is cloud metadata/);
    await expect(post('http://v6.example.test/', PUBLIC_ONLY, resolver)).rejects.toThrow(/fd00:ec2::254 is cloud metadata/);
    // One private record among public ones is enough: which one a connect picks is not ours to choose.
    await expect(post(`http://mixed.example.test:${receiver.port}/`, PUBLIC_ONLY, resolver)).rejects.toBeInstanceOf(TargetRefusedError);
    expect(calls).toEqual(['hooks.example.test', 'sneaky.example.test', 'metadata.example.test', 'v6.example.test', 'mixed.example.test']);
    expect(receiver.got.length).toBe(before);
  });

  it('literal addresses and localhost are refused without a lookup', async () => {
    const { resolver, calls } = tableResolver({});
    for (const url of [
      `http://127.0.0.1:${receiver.port}/`,
      `http://localhost:${receiver.port}/`,
      'http://[::1]/',
      'http://[::ffff:10.0.0.1]/',
    ]) {
      await expect(post(url, PUBLIC_ONLY, resolver), url).rejects.toBeInstanceOf(TargetRefusedError);
    }
    expect(calls).toEqual([]);
  });

  it('connects to the address it checked, with the URL’s host in the Host header (no second lookup: no rebinding)', async () => {
    let answers = 0;
    // The first answer passes the allowlist; a second lookup would get a metadata address.
    const { resolver, calls } = tableResolver({ 'receiver.test': () => (answers++ === 0 ? ['127.0.0.1'] : ['169.254.169.254']) });
    const policy = parseWebhookAllowlist('127.0.0.1/32');
    const res = await post(`http://receiver.test:${receiver.port}/hooks?a=1`, policy, resolver);
    expect(res).toMatchObject({ status: 204, address: '127.0.0.1' });
    const last = receiver.got.at(-1)!;
    expect(last.headers.host).toBe(`receiver.test:${receiver.port}`);
    expect(last.url).toBe('/hooks?a=1');
    expect(last.body).toBe('{"ok":true}');
    expect(last.headers['content-length']).toBe('11');
    expect(calls).toEqual(['receiver.test']);
  });

  it('does not follow a redirect: a 302 to a private address (or anywhere) comes back as the status', async () => {
    const policy = parseWebhookAllowlist('127.0.0.1');
    for (const location of ['http://169.254.169.254/latest/meta-data/', `http://127.0.0.1:${elsewhere.port}/stolen`]) {
      redirectTo = location;
      const res = await post(`http://127.0.0.1:${receiver.port}/hook`, policy);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(location);
    }
    redirectTo = '';
    expect(elsewhere.got).toEqual([]);
  });

  it('an allowlisted name may resolve to a private address; a name that does not resolve is a transient error', async () => {
    const { resolver } = tableResolver({ 'hooks.internal': ['127.0.0.1'] });
    expect((await post(`http://hooks.internal:${receiver.port}/`, parseWebhookAllowlist('hooks.internal'), resolver)).status).toBe(204);
    const failure = await post('http://nowhere.test/', PUBLIC_ONLY, resolver).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(TargetRefusedError);
    expect((failure as Error).message).toBe('getaddrinfo ENOTFOUND nowhere.test');
    await expect(resolveTarget(new URL('http://empty.test/'), PUBLIC_ONLY, async () => [])).rejects.toThrow(
      'empty.test resolved to no address',
    );
  });
});
