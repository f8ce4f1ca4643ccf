import { describe, expect, it } from 'vitest';
import type { TemporalGateway } from '../context.js';
import { createCallerFactory } from '../trpc.js';
import { appRouter } from './_app.js';

const createCaller = createCallerFactory(appRouter);

function gateway(reachable: boolean): TemporalGateway {
  return {
    address: '127.0.0.1:1',
    namespace: 'default',
    ping: async () => reachable,
    client: () => Promise.reject(new Error('no Temporal in this test')),
  };
}

describe('health procedure', () => {
  it('is ok when Temporal answers', async () => {
    const caller = createCaller({ temporal: gateway(true), version: '9.9.9', startedAt: Date.now() - 2000 });
    const health = await caller.health();
    expect(health.status).toBe('ok');
    expect(health.version).toBe('9.9.9');
    expect(health.temporal).toEqual({ address: '127.0.0.1:1', namespace: 'default', reachable: true });
    expect(health.uptimeSeconds).toBeGreaterThanOrEqual(2);
  });

  it('is degraded, not an error, when Temporal does not answer', async () => {
    const caller = createCaller({ temporal: gateway(false), version: '0', startedAt: Date.now() });
    const health = await caller.health();
    expect(health.status).toBe('degraded');
    expect(health.temporal.reachable).toBe(false);
  });
});
