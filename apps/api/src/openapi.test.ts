import { readFileSync } from 'node:fs';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { REPO_ROOT } from '@oneflow/devstack';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, KeyRing } from './auth.js';
import { createJobDeps } from './deps.js';
import { openApiDocument } from './openapi.js';
import { appRouter } from './routers/_app.js';
import { createApiServer, type ApiServer } from './server.js';
import { createTemporalGateway } from './temporal.js';

// The OpenAPI document generated from the router (trpc-to-openapi): valid, complete, checked in
// fresh, served at GET /openapi.json, and its REST routes answer over real HTTP.
const KEY = 'sk-openapi-test-0123456789';
const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser validation)', async () => {
    const doc = openApiDocument();
    expect(doc.openapi).toMatch(/^3\.1\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('has a route for every query and mutation of the router, and none for subscriptions', () => {
    const doc = openApiDocument();
    const operations = Object.entries(doc.paths ?? {}).flatMap(([p, item]) =>
      Object.keys(item as object).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(operations.sort()).toEqual(
      [
        'GET /health',
        'POST /generations',
        'GET /generations',
        'GET /generations/{id}',
        'POST /generations/{id}/cancel',
        'POST /generations/{id}/resume',
        'POST /generations/branch',
        'POST /generations/refine',
        'GET /generations/{id}/lineage',
        'GET /generations/{id}/steps',
        'POST /generations/{id}/pins',
        'POST /generations/{id}/unpin',
        'POST /batches',
        'GET /batches',
        'GET /batches/{id}',
        'POST /batches/{id}/cancel',
        'GET /models',
      ].sort(),
    );
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
    expect(operations).toHaveLength(procedures.filter(([, p]) => p._def.type !== 'subscription').length);
    // The webhook option and the outputs come from the zod schemas.
    const create = doc.paths?.['/generations']?.post as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    };
    expect(create.requestBody.content['application/json']!.schema.properties).toHaveProperty('webhook');
    expect(JSON.stringify(doc.paths?.['/generations/{id}']?.get)).toContain('queuePosition');
  });

  it('is checked in fresh at docs/openapi.json (`pnpm --filter @oneflow/api openapi` rewrites it)', () => {
    const file = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs', 'openapi.json'), 'utf8')) as unknown;
    expect(file).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });
});

describe('served over HTTP', () => {
  let api: ApiServer;
  const temporal = createTemporalGateway('127.0.0.1:9', 'default'); // no Temporal: these routes do not need one
  beforeAll(async () => {
    const jobs = await createJobDeps({ dataDir: '/nonexistent', models: MODEL_DIR, stepsPerActivity: 4 });
    api = await createApiServer({
      inner: { temporal, version: 'test', startedAt: Date.now(), jobs },
      host: '127.0.0.1',
      port: 0,
      logger: pino({ level: 'silent' }),
      keys: new KeyRing([{ tenant: 'acme', sha256: hashApiKey(KEY) }]),
    });
  });
  afterAll(async () => {
    await api.close();
    await temporal.close();
  });

  it('GET /openapi.json: the document, with this server as its base URL', async () => {
    const res = await fetch(`${api.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { servers: { url: string }[]; paths: Record<string, unknown> };
    expect(doc.servers).toEqual([{ url: `${api.baseUrl}/api` }]);
    expect(Object.keys(doc.paths)).toEqual(Object.keys(openApiDocument().paths ?? {}));
  });

  it('its REST routes answer with the same keys, validation and errors', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const models = await fetch(`${api.baseUrl}/api/models`, { headers: auth });
    expect(models.status).toBe(200);
    expect(((await models.json()) as { name: string }[]).map((m) => m.name)).toEqual(['tiny-model']);
    expect((await fetch(`${api.baseUrl}/api/models`)).status).toBe(401);
    const health = await fetch(`${api.baseUrl}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'degraded', temporal: { reachable: false } });
    const bad = await fetch(`${api.baseUrl}/api/generations`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-model', prompt: 'x', steps: 'many' }),
    });
    expect(bad.status).toBe(400);
    const badHook = await fetch(`${api.baseUrl}/api/generations`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-model', prompt: 'draw a seven', webhook: { url: 'file:///etc/passwd' } }),
    });
    expect(badHook.status).toBe(400);
    expect((await fetch(`${api.baseUrl}/api/nope`, { headers: auth })).status).toBe(404);
  });
});
