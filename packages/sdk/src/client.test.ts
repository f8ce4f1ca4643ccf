import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import { createApiServer, createTemporalGateway, type ApiServer } from '@oneflow/api';
import type { GenerationState as ContractState } from '@oneflow/contracts';
import { createClient, type Batch, type Generation, type GenerationState, type Health, type Model, type ProgressEvent } from './index.js';

// The SDK over real HTTP against the real API server, which talks to the real Temporal dev server.
describe('SDK against the API over HTTP', () => {
  let api: ApiServer;
  let down: ApiServer;
  const gateways: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    const logger = pino({ level: 'silent' });
    const up = createTemporalGateway(inject('temporalAddress'), 'default');
    const nowhere = createTemporalGateway('127.0.0.1:9', 'default');
    gateways.push(up, nowhere);
    api = await createApiServer({ inner: { temporal: up, version: 'test', startedAt: Date.now() }, host: '127.0.0.1', port: 0, logger });
    down = await createApiServer({
      inner: { temporal: nowhere, version: 'test', startedAt: Date.now() },
      host: '127.0.0.1',
      port: 0,
      logger,
    });
  });
  afterAll(async () => {
    await Promise.all([api.close(), down.close(), ...gateways.map((g) => g.close())]);
  });

  it('reports health ok with Temporal reachable', async () => {
    const client = createClient({ baseUrl: api.baseUrl });
    const health = await client.health();
    expect(health.status).toBe('ok');
    expect(health.temporal).toEqual({ address: inject('temporalAddress'), namespace: 'default', reachable: true });
  });

  it('reports degraded when Temporal is down', async () => {
    const health = await createClient({ baseUrl: down.url.replace(/\/trpc$/, '') }).health();
    expect(health.status).toBe('degraded');
    expect(health.temporal.reachable).toBe(false);
  });

  it('answers plain HTTP GET too (non-TypeScript clients)', async () => {
    const res = await fetch(`${api.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: Health } };
    expect(body.result.data.status).toBe('ok');
  });

  it('gives a 404 for an unknown procedure', async () => {
    const res = await fetch(`${api.url}/nope`);
    expect(res.status).toBe(404);
  });

  it('has precise public types', () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:1' });
    expectTypeOf(client.health).returns.resolves.toEqualTypeOf<Health>();
    expectTypeOf<Health['status']>().toEqualTypeOf<'ok' | 'degraded'>();
    expectTypeOf(createClient).parameter(0).toHaveProperty('baseUrl').toEqualTypeOf<string>();
  });

  it('types the job API from the router (type-only import)', () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
    expectTypeOf<GenerationState>().toEqualTypeOf<ContractState>();
    expectTypeOf<GenerationState>().toEqualTypeOf<'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'expired'>();
    expectTypeOf(client.generations.create).returns.resolves.toEqualTypeOf<Generation>();
    expectTypeOf(client.generations.create).parameter(0).toHaveProperty('prompt').toEqualTypeOf<string>();
    expectTypeOf(client.generations.create).parameter(0).toHaveProperty('idempotencyKey').toEqualTypeOf<string | undefined>();
    expectTypeOf<Generation['images'][number]>().toEqualTypeOf<{ index: number; clock: number; url: string }>();
    expectTypeOf<Generation['step']>().toEqualTypeOf<number>();
    expectTypeOf(client.generations.watch).returns.toEqualTypeOf<AsyncIterableIterator<ProgressEvent>>();
    expectTypeOf<ProgressEvent['id']>().toEqualTypeOf<string>();
    expectTypeOf<ProgressEvent['text']>().toEqualTypeOf<string>();
    expectTypeOf(client.generations.wait).returns.resolves.toEqualTypeOf<Generation>();
    expectTypeOf(client.generations.branch)
      .parameter(0)
      .toHaveProperty('from')
      .toEqualTypeOf<{ generationId: string; step?: number | undefined } | { checkpointId: string }>();
    expectTypeOf(client.batches.get).returns.resolves.toEqualTypeOf<Batch>();
    expectTypeOf<Batch['state']>().toEqualTypeOf<'running' | 'succeeded' | 'partial' | 'failed' | 'canceled' | 'expired'>();
    expectTypeOf(client.models.list).returns.resolves.toEqualTypeOf<Model[]>();
    expectTypeOf(client.generations.saveImages).returns.resolves.toEqualTypeOf<string[]>();
    // @ts-expect-error steps must be a number
    void (() => client.generations.create({ model: 'm', prompt: 'p', steps: '8' }));
  });
});
