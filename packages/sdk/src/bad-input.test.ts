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

  it('error bodies carry the code and the message, never a stack trace', async () => {
    const res = await fetch(`${stack.api.url}/generations.get?input=${encodeURIComponent(JSON.stringify({ id: 'gen-nope' }))}`, {
      headers: auth,
    });
    expect(res.status).toBe(404);
    const text = await res.text();
    expect((JSON.parse(text) as { error: { data: { code: string } } }).error.data.code).toBe('NOT_FOUND');
    expect(text).not.toMatch(/"stack"|\.ts:\d+|node_modules/);
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

  describe('the PNG route', () => {
    const png = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.api.baseUrl}${path}`, { headers: { authorization: `Bearer ${KEYS.acme}` }, ...init });
    const answer = async (res: Response) => ({
      status: res.status,
      body: (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null,
    });

    it('bad ids, bad image numbers and bad steps are 400 / 404 with a typed body, never a 500', async () => {
      const g = await stack.umbrella.generations.create(valid);
      const own = (path: string) => png(path, { headers: { authorization: `Bearer ${KEYS.umbrella}` } });
      try {
        // ids that are not ids: not a route
        for (const id of ['..%2F..%2Fetc', '%00', 'a'.repeat(129), 'gen%20x', '.hidden', '-x']) {
          const r = await answer(await own(`/generations/${id}/images/0.png`));
          expect(r.status, id).toBe(404);
          expect(r.body?.error?.code, id).toBe('NOT_FOUND');
        }
        // image numbers that are not numbers, or too long to be one
        for (const k of ['-1', 'abc', '1000', '0x1', '1.5', '']) {
          expect((await own(`/generations/${g.id}/images/${k}.png`)).status, k).toBe(404);
        }
        // steps that are not non-negative integers
        for (const step of ['-1', 'abc', '1.5', '1e3', '9999999', '', '%00']) {
          const r = await answer(await own(`/generations/${g.id}/images/0.png?step=${step}`));
          expect(r.status, step).toBe(400);
          expect(r.body?.error).toEqual({ code: 'BAD_REQUEST', message: 'step must be a non-negative integer' });
        }
        // a queued generation has no checkpoint: 404, at the newest step or any other
        for (const path of [`/generations/${g.id}/images/0.png`, `/generations/${g.id}/images/7.png?step=3`]) {
          const r = await answer(await own(path));
          expect(r.status, path).toBe(404);
          expect(r.body?.error?.message).toBe(`generation ${g.id} has no checkpoint yet`);
        }
      } finally {
        await stack.umbrella.generations.cancel(g.id);
      }
    });

    it("another tenant's generation is 404 exactly like an unknown id; no key or a wrong key is 401; other methods are 405", async () => {
      const g = await stack.umbrella.generations.create(valid);
      try {
        const theirs = await answer(await png(`/generations/${g.id}/images/0.png`));
        const unknown = await answer(await png(`/generations/gen-nope/images/0.png`));
        expect(theirs.status).toBe(404);
        expect(theirs.body?.error).toEqual({ code: 'NOT_FOUND', message: `generation ${g.id} not found` });
        expect(unknown.body?.error).toEqual({ code: 'NOT_FOUND', message: 'generation gen-nope not found' });
        expect((await answer(await png(`/generations/${g.id}/images/0.png?step=0`))).status).toBe(404);

        for (const headers of [
          {},
          { authorization: 'Bearer sk-not-a-key' },
          { authorization: KEYS.umbrella },
          { authorization: 'Basic dXNlcjpwdw==' },
        ]) {
          const r = await answer(await fetch(`${stack.api.baseUrl}/generations/${g.id}/images/0.png`, { headers }));
          expect(r.status, JSON.stringify(headers)).toBe(401);
          expect(r.body?.error?.code).toBe('UNAUTHORIZED');
        }
        for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
          const res = await png(`/generations/${g.id}/images/0.png`, { method, headers: { authorization: `Bearer ${KEYS.umbrella}` } });
          expect(res.status, method).toBe(405);
          expect(res.headers.get('allow')).toBe('GET, HEAD');
          expect((await answer(res)).body?.error?.code).toBe('METHOD_NOT_SUPPORTED');
        }
      } finally {
        await stack.umbrella.generations.cancel(g.id);
      }
    });
  });

  describe('the SSE route (generations.watch)', () => {
    /**
     * Opens `generations.watch` over raw HTTP and reads events (pings and `connected` aside) until
     * the first one, the end, or 3 s. tRPC answers a subscription with 200 and an event stream and
     * reports a refusal as a `serialized-error` event carrying the code and its HTTP status.
     */
    async function rawWatch(input: unknown, headers: Record<string, string> = { authorization: `Bearer ${KEYS.acme}` }) {
      const res = await fetch(`${stack.api.url}/generations.watch?input=${encodeURIComponent(JSON.stringify(input))}`, {
        headers: { accept: 'text/event-stream', ...headers },
        signal: AbortSignal.timeout(10_000),
      });
      if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        const body = (await res.json()) as { error?: { data?: { code?: string; httpStatus?: number } } };
        return { status: res.status, event: 'http-error', code: body.error?.data?.code, httpStatus: res.status, text: '' };
      }
      const reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      let text = '';
      const deadline = Date.now() + 3000;
      const events = () =>
        text
          .split('\n\n')
          .slice(0, -1)
          .map((block) => ({
            event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message',
            data: block
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n'),
          }))
          .filter((e) => e.data !== '' && e.event !== 'connected' && e.event !== 'ping');
      let pending = reader.read();
      while (Date.now() < deadline && events().length === 0) {
        const chunk = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 300))]);
        if (chunk === null) continue;
        if (chunk.done) break;
        text += new TextDecoder().decode(chunk.value);
        pending = reader.read();
      }
      await reader.cancel().catch(() => undefined);
      const first = events()[0];
      const error =
        first?.event === 'serialized-error' ? (JSON.parse(first.data) as { data?: { code?: string; httpStatus?: number } }) : null;
      return {
        status: res.status,
        event: first?.event ?? 'none',
        code: error?.data?.code,
        httpStatus: error?.data?.httpStatus,
        text: first?.data ?? '',
      };
    }
    /** What a client can tell of a refused watch: the code and the HTTP status it stands for. */
    const refusedWith = async (input: unknown, headers?: Record<string, string>) => {
      const r = await rawWatch(input, headers);
      // Never a stack trace or a 500, and the refusal is the first thing on the stream.
      expect(r.text).not.toContain('INTERNAL_SERVER_ERROR');
      return { event: r.event, code: r.code, httpStatus: r.httpStatus };
    };
    const refused = (code: string, httpStatus: number) => ({ event: 'serialized-error', code, httpStatus });
    const watchCode = async (id: string, opts: { lastEventId?: string } = {}, client = stack.acme) => {
      try {
        for await (const e of client.generations.watch(id, opts)) return `event ${e.state}`;
        return 'ended';
      } catch (error) {
        return errorCode(error);
      }
    };

    it('bad ids and lastEventIds are BAD_REQUEST (400) before any event; unknown ids are NOT_FOUND (404)', async () => {
      for (const id of ['../etc/passwd', '', 'a'.repeat(200), 'gen x', '\u0000']) {
        expect(await watchCode(id), JSON.stringify(id)).toBe('BAD_REQUEST');
        expect(await refusedWith({ id }), JSON.stringify(id)).toEqual(refused('BAD_REQUEST', 400));
      }
      // lastEventId: too long or not a string is refused; a string the stream never sent is not an
      // error (see the owner's test below: the stream starts from the beginning).
      for (const lastEventId of ['x'.repeat(101), 7, true, { step: 1 }]) {
        expect(await watchCode('gen-nope', { lastEventId: lastEventId as string }), JSON.stringify(lastEventId)).toBe('BAD_REQUEST');
        expect(await refusedWith({ id: 'gen-nope', lastEventId }), JSON.stringify(lastEventId)).toEqual(refused('BAD_REQUEST', 400));
      }
      for (const input of [null, 42, 'gen-x', [], { id: 'gen-x', extra: 1 }, { id: 7 }, { id: 'gen-x', lastEventId: 3 }]) {
        expect(await refusedWith(input), JSON.stringify(input)).toEqual(refused('BAD_REQUEST', 400));
      }
      expect(await watchCode('gen-does-not-exist')).toBe('NOT_FOUND');
      expect(await watchCode('gen-does-not-exist', { lastEventId: '3.running' })).toBe('NOT_FOUND');
      expect(await refusedWith({ id: 'gen-does-not-exist' })).toEqual(refused('NOT_FOUND', 404));
    });

    it("another tenant's generation is NOT_FOUND, a missing key UNAUTHORIZED, over the SDK and raw HTTP", async () => {
      const g = await stack.umbrella.generations.create(valid);
      try {
        expect(await watchCode(g.id, {}, stack.umbrella)).toBe('event queued');
        expect(await watchCode(g.id)).toBe('NOT_FOUND');
        expect(await watchCode(g.id, { lastEventId: '0.queued' })).toBe('NOT_FOUND');
        expect(await refusedWith({ id: g.id })).toEqual(refused('NOT_FOUND', 404));
        expect(await watchCode(g.id, {}, stack.anonymous)).toBe('UNAUTHORIZED');
        expect(await refusedWith({ id: g.id }, {})).toEqual(refused('UNAUTHORIZED', 401));
        expect(await refusedWith({ id: g.id }, { authorization: 'Bearer sk-not-a-key' })).toEqual(refused('UNAUTHORIZED', 401));
        // The owner still sees it; a lastEventId the stream never sent starts it from the beginning.
        for (const lastEventId of [undefined, 'not-an-event-id', '-1.running', '1.RUNNING']) {
          const own = await rawWatch({ id: g.id, ...(lastEventId ? { lastEventId } : {}) }, { authorization: `Bearer ${KEYS.umbrella}` });
          expect(own.status, lastEventId).toBe(200);
          expect(own.event, lastEventId).toBe('message');
          expect(own.text, lastEventId).toContain('"state":"queued"');
        }
      } finally {
        await stack.umbrella.generations.cancel(g.id);
      }
    });
  });

  describe('webhook targets at submission', () => {
    let hooks: Stack;
    beforeAll(async () => {
      hooks = await startStack({
        address: inject('temporalAddress'),
        namespace: 'test-api-input',
        worker: false,
        webhookSecrets: { acme: `whsec_${Buffer.alloc(32, 7).toString('base64')}` },
      });
    });
    afterAll(async () => {
      await hooks?.close();
    });

    it('a literal non-public address or localhost is BAD_REQUEST unless ONEFLOW_WEBHOOK_ALLOW allows it', async () => {
      const create = (url: string) => hooks.acme.generations.create({ ...valid, webhook: { url } });
      const refusal = async (p: Promise<unknown>) => {
        const e = await p.then(
          () => null,
          (error: unknown) => error,
        );
        return { code: errorCode(e), message: e instanceof Error ? e.message : null };
      };
      for (const url of ['http://10.0.0.7/hook', 'http://localhost:9/hook', 'http://[::1]/', 'http://0x7f.0.0.2/', 'http://100.64.0.1/']) {
        const r = await refusal(create(url));
        expect(r.code, url).toBe('BAD_REQUEST');
        expect(r.message, url).toMatch(/only public addresses are delivered to unless ONEFLOW_WEBHOOK_ALLOW allows it/);
      }
      expect((await refusal(create('http://169.254.169.254/latest/meta-data/'))).message).toContain('169.254.169.254 is cloud metadata');
      const batch = await refusal(hooks.acme.batches.create({ items: [valid], webhook: { url: 'http://192.168.1.1/' } }));
      expect(batch.code).toBe('BAD_REQUEST');
      // Raw HTTP too: 400, and nothing was started.
      const raw = await fetch(`${hooks.api.url}/generations.create`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ ...valid, webhook: { url: 'http://[fd00:ec2::254]/' } }),
      });
      expect(raw.status).toBe(400);

      // The test run allows 127.0.0.1 (its receivers); public names pass at submission.
      const started = [await create('http://127.0.0.1:9/hook'), await create('https://hooks.example.com/oneflow')];
      const previous = process.env['ONEFLOW_WEBHOOK_ALLOW'];
      process.env['ONEFLOW_WEBHOOK_ALLOW'] = `${previous ?? ''},localhost,10.0.0.0/8`;
      try {
        started.push(await create('http://localhost:9/hook'), await create('http://10.0.0.7/hook'));
        expect((await refusal(create('http://192.168.1.1/'))).code).toBe('BAD_REQUEST');
      } finally {
        process.env['ONEFLOW_WEBHOOK_ALLOW'] = previous;
      }
      expect((await refusal(create('http://localhost:9/hook'))).code).toBe('BAD_REQUEST');
      const listed = (await hooks.acme.generations.list({ limit: 100 })).items.map((g) => g.id);
      for (const g of started) expect(listed).toContain(g.id);
      await Promise.all(started.map((g) => hooks.acme.generations.cancel(g.id)));
    });
  });
});
