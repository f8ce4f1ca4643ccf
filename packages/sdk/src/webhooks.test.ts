import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from './index.js';
import { WebhookReceiver } from '@oneflow/devstack';
import { codeOf, startStack, type Stack } from './testing/stack.js';

// Webhooks end to end: the API (acme has a signing secret, umbrella none), a real worker process
// that signs and retries, a real local HTTP receiver, and the SDK's verifyWebhook.
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const request = { model: 'tiny-model', prompt: 'draw a seven', seed: 99, steps: 12 } as const;

async function until<T>(what: string, probe: () => T | false, timeoutMs = 45_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function reasonOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return error instanceof WebhookVerificationError ? error.reason : `not a WebhookVerificationError: ${String(error)}`;
  }
}

describe('verifyWebhook', () => {
  const body = JSON.stringify({ type: 'generation.succeeded', timestamp: '2026-11-27T00:00:00.000Z', data: { id: 'gen-1' } });
  const at = new Date('2026-11-27T10:00:00Z');
  const signed = (secret = SECRET, when = at, payload = body) => ({
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(Math.floor(when.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign('msg_1', when, payload),
  });

  it('accepts a message signed with the secret and returns its event', () => {
    expect(verifyWebhook({ payload: body, headers: signed(), secret: SECRET, now: at })).toEqual(JSON.parse(body));
    // bytes, Headers objects, and one good signature among several (secret rotation)
    const other = signed(`whsec_${randomBytes(32).toString('base64')}`)['webhook-signature'];
    const headers = new Headers({ ...signed(), 'webhook-signature': `${other} ${signed()['webhook-signature']}` });
    expect(verifyWebhook({ payload: Buffer.from(body), headers, secret: SECRET, now: at }).data.id).toBe('gen-1');
  });

  it('refuses a wrong secret, a changed body or id, missing headers, stale and future timestamps', () => {
    const wrong = `whsec_${randomBytes(32).toString('base64')}`;
    expect(reasonOf(() => verifyWebhook({ payload: body, headers: signed(wrong), secret: SECRET, now: at }))).toBe('bad-signature');
    expect(reasonOf(() => verifyWebhook({ payload: body.replace('gen-1', 'gen-2'), headers: signed(), secret: SECRET, now: at }))).toBe(
      'bad-signature',
    );
    expect(reasonOf(() => verifyWebhook({ payload: body, headers: { ...signed(), 'webhook-id': 'msg_2' }, secret: SECRET, now: at }))).toBe(
      'bad-signature',
    );
    expect(
      reasonOf(() => verifyWebhook({ payload: body, headers: { ...signed(), 'webhook-signature': 'v2,abc' }, secret: SECRET, now: at })),
    ).toBe('bad-signature');
    expect(reasonOf(() => verifyWebhook({ payload: body, headers: { 'webhook-id': 'msg_1' }, secret: SECRET, now: at }))).toBe(
      'missing-headers',
    );
    expect(
      reasonOf(() => verifyWebhook({ payload: body, headers: { ...signed(), 'webhook-timestamp': 'soon' }, secret: SECRET, now: at })),
    ).toBe('bad-timestamp');
    const later = new Date(at.getTime() + 301_000);
    expect(reasonOf(() => verifyWebhook({ payload: body, headers: signed(), secret: SECRET, now: later }))).toBe('stale-timestamp');
    expect(
      reasonOf(() => verifyWebhook({ payload: body, headers: signed(), secret: SECRET, now: later, toleranceSeconds: 600 })),
    ).toBeNull();
    expect(reasonOf(() => verifyWebhook({ payload: body, headers: signed(SECRET, later), secret: SECRET, now: at }))).toBe(
      'future-timestamp',
    );
  });
});

describe('webhooks through the API and a real worker', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  beforeAll(async () => {
    await receiver.start();
    stack = await startStack({
      address: inject('temporalAddress'),
      namespace: 'test-webhooks',
      worker: true,
      webhookSecrets: { acme: SECRET },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver.close();
  });

  it('delivers generation.succeeded, retried until the receiver accepts it; every attempt verifies', async () => {
    receiver.failFirst = 2;
    const g = await stack.acme.generations.create({ ...request, webhook: { url: receiver.url } });
    const done = await stack.acme.generations.wait(g.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('succeeded');
    const got = await until('three attempts', () => receiver.of(g.id).length >= 3 && receiver.of(g.id));
    expect(got.map((r) => r.status)).toEqual([503, 503, 204]);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const r of got) {
      const event = verifyWebhook({ payload: r.body, headers: r.headers, secret: SECRET });
      expect(event).toMatchObject({
        type: 'generation.succeeded',
        data: { id: g.id, state: 'succeeded', step: done.step, text: done.text, checkpointId: done.checkpointId, error: null },
      });
      expect(event.data.imageClocks).toEqual(done.images.map((im) => im.clock));
    }
    // Another tenant's secret (or a forged body) does not verify.
    expect(
      reasonOf(() =>
        verifyWebhook({ payload: got[2]!.body, headers: got[2]!.headers, secret: `whsec_${randomBytes(32).toString('base64')}` }),
      ),
    ).toBe('bad-signature');
    expect(
      reasonOf(() => verifyWebhook({ payload: got[2]!.body.replace('succeeded', 'failed'), headers: got[2]!.headers, secret: SECRET })),
    ).toBe('bad-signature');
  }, 90_000);

  it('delivers generation.canceled when a generation is canceled', async () => {
    receiver.failFirst = 0;
    const g = await stack.acme.generations.create({
      ...request,
      steps: 400,
      webhook: { url: receiver.url, events: ['generation.canceled'] },
    });
    for await (const e of stack.acme.generations.watch(g.id)) if (e.step >= 2) break;
    await stack.acme.generations.cancel(g.id);
    const done = await stack.acme.generations.wait(g.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('canceled');
    const [got] = await until('a delivery', () => receiver.of(g.id).length >= 1 && receiver.of(g.id));
    expect(verifyWebhook({ payload: got!.body, headers: got!.headers, secret: SECRET })).toMatchObject({
      type: 'generation.canceled',
      data: { id: g.id, state: 'canceled', step: done.step },
    });
  }, 90_000);

  it('delivers generation.expired when the deadline passes', async () => {
    receiver.failFirst = 0;
    const g = await stack.acme.generations.create({ ...request, steps: 1000, deadlineSeconds: 2, webhook: { url: receiver.url } });
    const done = await stack.acme.generations.wait(g.id, { timeoutMs: 30_000 });
    expect(done.state).toBe('expired');
    const [got] = await until('the expired message', () => receiver.of(g.id).length >= 1 && receiver.of(g.id));
    expect(verifyWebhook({ payload: got!.body, headers: got!.headers, secret: SECRET })).toMatchObject({
      type: 'generation.expired',
      data: { id: g.id, state: 'expired' },
    });
  }, 90_000);

  it('refuses a webhook it could not sign or should not call: BAD_REQUEST, nothing started', async () => {
    expect(await codeOf(stack.umbrella.generations.create({ ...request, webhook: { url: receiver.url } }))).toBe('BAD_REQUEST');
    expect(await codeOf(stack.acme.generations.create({ ...request, webhook: { url: 'ftp://127.0.0.1/x' } }))).toBe('BAD_REQUEST');
    expect(await codeOf(stack.acme.generations.create({ ...request, webhook: { url: `http://127.0.0.1/${'a'.repeat(2100)}` } }))).toBe(
      'BAD_REQUEST',
    );
    expect(await codeOf(stack.acme.generations.create({ ...request, webhook: { url: 'http://user:pw@127.0.0.1/x' } }))).toBe('BAD_REQUEST');
    const notAnEvent = 'generation.started' as 'generation.succeeded'; // the API must refuse what the types would
    expect(await codeOf(stack.acme.generations.create({ ...request, webhook: { url: receiver.url, events: [notAnEvent] } }))).toBe(
      'BAD_REQUEST',
    );
    expect(await codeOf(stack.umbrella.batches.create({ items: [request], webhook: { url: receiver.url } }))).toBe('BAD_REQUEST');
    expect((await stack.umbrella.generations.list()).items).toEqual([]);
  });

  it('a batch delivers one message per item', async () => {
    receiver.failFirst = 0;
    const b = await stack.acme.batches.create({ items: [request, { ...request, seed: 7 }], webhook: { url: receiver.url } });
    const done = await stack.acme.batches.wait(b.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('succeeded');
    for (const item of done.items) {
      const [got] = await until(`${item.id}'s delivery`, () => receiver.of(item.id).length >= 1 && receiver.of(item.id));
      expect(verifyWebhook({ payload: got!.body, headers: got!.headers, secret: SECRET }).data).toMatchObject({
        id: item.id,
        batchId: b.id,
        state: 'succeeded',
        text: item.text,
      });
    }
  }, 120_000);
});
