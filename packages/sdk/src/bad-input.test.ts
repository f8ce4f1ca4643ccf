import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, errorCode } from './index.js';
import { KEYS, startStack, type Stack } from './testing/stack.js';

// Bad input over real HTTP: always a typed 4xx, never a 5xx, and nothing is created. No worker
// runs here: a job started by mistake would stay visible in this file's namespace.
let stack: Stack;
let limited: Stack;
const auth = { authorization: `Bearer ${KEYS.acme}`, 'content-type': 'application/json' };
const valid = { model: 'tiny-model', prompt: 'draw a seven', seed: 1, steps: 8 };

beforeAll(async () => {
  stack = await startStack({ address: inject('temporalAddress'), namespace: 'test-api-input', worker: false });
  limited = await startStack({ address: inject('temporalAddress'), namespace: 'test-api-input', worker: false, ratePerMinute: 60 });
});
afterAll(async () => {
  await stack?.close();
  await limited?.close();
});

const MUTATIONS = [
  'generations.create',
  'generations.cancel',
  'generations.resume',
  'generations.branch',
  'generations.refine',
  'batches.create',
  'batches.cancel',
];
const QUERIES = ['generations.get', 'generations.list', 'generations.lineage', 'batches.get', 'batches.list'];

async function post(path: string, body: string): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${stack.api.url}/${path}`, { method: 'POST', headers: auth, body });
  const json = (await res.json().catch(() => ({}))) as { error?: { data?: { code?: string } } };
  return { status: res.status, code: json.error?.data?.code };
}
async function get(path: string, input: string): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${stack.api.url}/${path}?input=${encodeURIComponent(input)}`, { headers: auth });
  const json = (await res.json().catch(() => ({}))) as { error?: { data?: { code?: string } } };
  return { status: res.status, code: json.error?.data?.code };
}

const base = {
  model: fc.constant(valid.model),
  prompt: fc.constant(valid.prompt),
  seed: fc.constant(valid.seed),
  steps: fc.constant(valid.steps),
};
/** A valid request with at least one field broken. */
const badRequest = fc.oneof(
  fc.record({ ...base, prompt: fc.string({ minLength: 2001, maxLength: 3000 }) }),
  fc.record({ ...base, steps: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1025 }), fc.double(), fc.string()) }),
  fc.record({ ...base, model: fc.string({ maxLength: 120 }).filter((m) => m !== 'tiny-model') }),
  fc.record({ ...base, images: fc.array(fc.base64String({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 3 }) }),
  fc.record({ ...base, prompt: fc.constantFrom('draw a zebra', 'describe <image>', 'supercalifragilistic') }),
  fc.record({ ...base, guidance: fc.oneof(fc.double({ min: 20.0001, noNaN: true }), fc.constant(-1)) }),
  fc.record({ ...base, imageGuidance: fc.oneof(fc.double({ min: 20.0001, noNaN: true }), fc.constant(-0.5), fc.constant('2')) }),
  fc.record({ ...base, temperature: fc.constantFrom(0, -3, 11) }),
  fc.record({ ...base, seed: fc.oneof(fc.integer({ max: -1 }), fc.constant(2 ** 32)) }),
  fc.record({ ...base, extra: fc.anything().filter((v) => v !== undefined) }),
  fc.record({ ...base, idempotencyKey: fc.string({ minLength: 201, maxLength: 300 }) }),
);

describe('bad input', () => {
  it('bad generation requests are BAD_REQUEST (400), through the SDK and raw HTTP, and create nothing', async () => {
    await fc.assert(
      fc.asyncProperty(badRequest, async (input) => {
        let code: string | null = null;
        try {
          await stack.acme.generations.create(input as never);
        } catch (error) {
          code = errorCode(error);
        }
        expect(code).toBe('BAD_REQUEST');
        const raw = await post('generations.create', JSON.stringify(input));
        expect(raw.status).toBe(400);
      }),
      { numRuns: 60 },
    );
    // Batches validate every item.
    expect(
      errorCode(await stack.acme.batches.create({ items: [valid, { ...valid, prompt: 'draw a zebra' }] }).catch((e: unknown) => e)),
    ).toBe('BAD_REQUEST');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stack.acme.generations.list({ limit: 100 })).items).toEqual([]);
    expect((await stack.acme.batches.list({ limit: 100 })).items).toEqual([]);
  });

  it('any JSON body to any procedure is answered (4xx unless valid), never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...MUTATIONS, ...QUERIES), fc.jsonValue(), async (path, value) => {
        const body = JSON.stringify(value);
        const res = MUTATIONS.includes(path) ? await post(path, body) : await get(path, body);
        // (`{}` is a valid list query: 200.)
        expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true);
        if (res.status !== 200) expect(res.code).toBeDefined();
      }),
      { numRuns: 120 },
    );
  });

  it('malformed bodies, huge bodies, unknown ids and bad routes are 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (text) => {
        const res = await post('generations.create', text);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
    const huge = await fetch(`${stack.api.url}/generations.create`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ ...valid, prompt: 'x'.repeat(5 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    expect(errorCode(await stack.acme.generations.get('gen-does-not-exist').catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(errorCode(await stack.acme.batches.get('batch-nope').catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(errorCode(await stack.acme.generations.branch({ from: { checkpointId: 'a'.repeat(64) } }).catch((e: unknown) => e))).toBe(
      'NOT_FOUND',
    );
    expect(errorCode(await stack.acme.generations.get('../etc/passwd').catch((e: unknown) => e))).toBe('BAD_REQUEST');
    for (const path of ['/generations/gen-x/images/0.png?step=-1', '/generations/gen-x/images/0.png?step=abc']) {
      expect((await fetch(`${stack.api.baseUrl}${path}`, { headers: auth })).status).toBe(400);
    }
    expect((await fetch(`${stack.api.baseUrl}/generations/gen-x/images/0.png`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${stack.api.baseUrl}/generations/gen-x/images/99999.png`, { headers: auth })).status).toBe(404);
  });

  it('reports queue positions while no worker runs (another tenant: the first test counts only its own)', async () => {
    const a = await stack.umbrella.generations.create(valid);
    const b = await stack.umbrella.generations.create(valid);
    expect(a.state).toBe('queued');
    let view = await stack.umbrella.generations.get(b.id);
    for (let i = 0; i < 50 && view.queuePosition !== 1; i++) {
      await new Promise((r) => setTimeout(r, 200));
      view = await stack.umbrella.generations.get(b.id);
    }
    expect(view.state).toBe('queued');
    expect(view.queuePosition).toBe(1);
    expect((await stack.umbrella.generations.get(a.id)).queuePosition).toBe(0);
    await Promise.all([stack.umbrella.generations.cancel(a.id), stack.umbrella.generations.cancel(b.id)]);
  });

  it('refuses unknown keys (UNAUTHORIZED) and answers TOO_MANY_REQUESTS over a key’s rate', async () => {
    const stranger = createClient({ baseUrl: stack.api.baseUrl, apiKey: 'sk-not-a-key' });
    expect(errorCode(await stranger.models.list().catch((e: unknown) => e))).toBe('UNAUTHORIZED');
    expect(errorCode(await stack.anonymous.generations.list().catch((e: unknown) => e))).toBe('UNAUTHORIZED');
    // 60 per minute: a burst of 10, then refused; another key has its own bucket.
    const codes = await Promise.all(
      Array.from({ length: 15 }, () =>
        limited.acme.models.list().then(
          () => 'ok',
          (e: unknown) => errorCode(e),
        ),
      ),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(10);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(5);
    const res = await fetch(`${limited.api.url}/models.list`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
    expect(res.status).toBe(429);
    expect((await limited.umbrella.models.list()).length).toBe(1);
  });
});
