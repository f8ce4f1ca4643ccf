import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from './server.js';
import { CONTENT_SECURITY_POLICY } from './static.js';
import type { TemporalGateway } from './context.js';

// The built web app as the API process serves it, over real HTTP, from a directory laid out like
// Vite's output (index.html, hashed assets/), with a secret beside it that must never be served.
const temporal: TemporalGateway = {
  address: '127.0.0.1:1',
  namespace: 'default',
  ping: async () => false,
  client: () => Promise.reject(new Error('no Temporal in this test')),
};

let dir: string;
let api: ApiServer;
let bare: ApiServer;
const INDEX = '<!doctype html><title>OneFlow Playground</title><script type="module" src="/assets/index-abc123.js"></script>';

/** GET with a raw (unnormalised) path, as a hostile client can send it. */
function get(base: string, rawPath: string, headers: Record<string, string> = {}, method = 'GET') {
  const { hostname, port } = new URL(base);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request({ hostname, port, path: rawPath, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'oneflow-static-'));
  const site = path.join(dir, 'dist');
  mkdirSync(path.join(site, 'assets'), { recursive: true });
  writeFileSync(path.join(site, 'index.html'), INDEX);
  writeFileSync(path.join(site, 'assets', 'index-abc123.js'), 'console.log("app")');
  writeFileSync(path.join(site, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(path.join(site, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(site, '.env'), 'SECRET=1');
  writeFileSync(path.join(dir, 'secret.txt'), 'outside the site');
  symlinkSync(path.join(dir, 'secret.txt'), path.join(site, 'assets', 'link.txt'));
  const logger = pino({ level: 'silent' });
  api = await createApiServer({
    inner: { temporal, version: 'test', startedAt: Date.now() },
    host: '127.0.0.1',
    port: 0,
    logger,
    webDir: site,
  });
  bare = await createApiServer({
    inner: { temporal, version: 'test', startedAt: Date.now() },
    host: '127.0.0.1',
    port: 0,
    logger,
    webDir: path.join(dir, 'not-built'),
  });
});
afterAll(async () => {
  await Promise.all([api?.close(), bare?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('the web app served by the API process', () => {
  it('serves index.html at / with a same-origin-only content security policy, revalidated', async () => {
    const res = await get(api.baseUrl, '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toBe(INDEX);
  });

  it('serves hashed assets with their content type, cached as immutable; answers 304 to a matching ETag', async () => {
    const js = await get(api.baseUrl, '/assets/index-abc123.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log("app")');
    const css = await get(api.baseUrl, '/assets/index-abc123.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const svg = await get(api.baseUrl, '/favicon.svg');
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['cache-control']).toBe('no-cache');
    const again = await get(api.baseUrl, '/assets/index-abc123.js', { 'if-none-match': String(js.headers['etag']) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const head = await get(api.baseUrl, '/assets/index-abc123.js', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('console.log("app")'.length));
  });

  it('falls back to index.html for client-side routes, not for missing files', async () => {
    for (const route of ['/g/gen-123', '/jobs', '/compare?a=1&b=2']) {
      const res = await get(api.baseUrl, route);
      expect(res.status, route).toBe(200);
      expect(res.body, route).toBe(INDEX);
    }
    expect((await get(api.baseUrl, '/assets/missing-0000.js')).status).toBe(404);
    expect((await get(api.baseUrl, '/nope.png')).status).toBe(404);
  });

  it('never leaves the site directory: traversal, encoded traversal, dotfiles, symlinks out, NUL', async () => {
    for (const raw of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/.env',
      '/assets/link.txt',
      '/%00',
      '/%E0%A4%A',
    ]) {
      const res = await get(api.baseUrl, raw);
      expect([400, 404], raw).toContain(res.status);
      expect(res.body, raw).not.toContain('outside the site');
      expect(res.body, raw).not.toContain('SECRET');
    }
  });

  it('leaves API paths to the API: unknown ones stay JSON 404s, other methods are not served', async () => {
    for (const raw of ['/trpc', '/api', '/generations/x/other', '/health']) {
      const res = await get(api.baseUrl, raw);
      expect(res.status, raw).toBe(404);
      expect(res.headers['content-type'], raw).toBe('application/json');
      expect(res.body, raw).toContain('NOT_FOUND');
    }
    const post = await get(api.baseUrl, '/', {}, 'POST');
    expect(post.status).toBe(404);
    expect(post.headers['content-type']).toBe('application/json');
    const openapi = await get(api.baseUrl, '/openapi.json');
    expect(openapi.status).toBe(200);
    expect(JSON.parse(openapi.body)).toHaveProperty('openapi');
  });

  it('says how to build the app when it is not built', async () => {
    const res = await get(bare.baseUrl, '/');
    expect(res.status).toBe(503);
    expect(res.body).toContain('infra/dev/setup');
  });
});
