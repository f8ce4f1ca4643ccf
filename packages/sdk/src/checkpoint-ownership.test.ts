import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, type Generation } from './index.js';
import { KEYS, startStack, type Stack } from './testing/stack.js';

// Branching from a raw checkpoint id end to end: a real worker process writes an ownership marker
// for every checkpoint a tenant's generation stores, and the API over HTTP lets only that tenant
// branch or refine from the id. Another tenant gets what a never-stored id gets.
const NAMESPACE = 'test-ownership';
const request = { model: 'tiny-model', prompt: 'draw a seven', seed: 4242, steps: 8, guidance: 2, temperature: 0.7 } as const;
const unknown = 'c'.repeat(64);
let stack: Stack;
let done: Generation;
let ids: string[];

beforeAll(async () => {
  stack = await startStack({ address: inject('temporalAddress'), namespace: NAMESPACE, worker: true });
  done = await stack.acme.generations.wait((await stack.acme.generations.create(request)).id, { timeoutMs: 90_000 });
  const steps = (await stack.acme.generations.steps({ id: done.id, limit: 500 })).items;
  ids = [steps[0]!.checkpointId, steps[Math.floor(steps.length / 2)]!.checkpointId, steps.at(-1)!.checkpointId];
}, 150_000);
afterAll(async () => {
  await stack?.close();
});

/** How a call was refused: its code and message (`resolved` when it was not). */
async function refusal(p: Promise<unknown>): Promise<{ code: string | null; message: string }> {
  try {
    await p;
    return { code: 'resolved', message: '' };
  } catch (error) {
    return { code: errorCode(error), message: error instanceof Error ? error.message : String(error) };
  }
}

/** The REST route with a tenant's key: status and body. */
async function rest(key: string, route: string, body: unknown): Promise<{ status: number; body: { message?: string } }> {
  const res = await fetch(`${stack.api.baseUrl}/api${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { message?: string } };
}

describe('raw checkpoint ids across tenants', () => {
  it("another tenant's checkpoint ids are NOT_FOUND (SDK and REST 404), word for word what a never-stored id gets", async () => {
    expect(done.state).toBe('succeeded');
    const never = await refusal(stack.umbrella.generations.branch({ from: { checkpointId: unknown } }));
    const neverRefine = await refusal(
      stack.umbrella.generations.refine({ from: { checkpointId: unknown }, op: { op: 'renoiseImage', image: 0, to: 0.5 } }),
    );
    expect(never.code).toBe('NOT_FOUND');
    const neverRest = await rest(KEYS.umbrella, '/generations/branch', { from: { checkpointId: unknown } });
    expect(neverRest.status).toBe(404);
    const before = (await stack.umbrella.generations.list({ limit: 100 })).items.length;
    for (const checkpointId of ids) {
      const as = (answer: { message: string }) => answer.message.replaceAll(unknown, checkpointId);
      expect(await refusal(stack.umbrella.generations.branch({ from: { checkpointId } }))).toEqual({
        code: 'NOT_FOUND',
        message: as(never),
      });
      expect(
        await refusal(stack.umbrella.generations.refine({ from: { checkpointId }, op: { op: 'renoiseImage', image: 0, to: 0.5 } })),
      ).toEqual({ code: 'NOT_FOUND', message: as(neverRefine) });
      const r = await rest(KEYS.umbrella, '/generations/branch', { from: { checkpointId }, overrides: { seed: 1 } });
      expect(r).toEqual({ status: 404, body: { ...neverRest.body, message: as({ message: neverRest.body.message! }) } });
    }
    // Nothing was started for umbrella.
    expect((await stack.umbrella.generations.list({ limit: 100 })).items).toHaveLength(before);
  }, 60_000);

  it('the owner branches and refines from its raw ids; the branch it made is its own, not the other tenant’s', async () => {
    const branch = await stack.acme.generations.branch({ from: { checkpointId: ids[1]! }, overrides: { seed: 7 } });
    const refined = await stack.acme.generations.refine({ from: { checkpointId: ids[2]! }, op: { op: 'renoiseImage', image: 0, to: 0.5 } });
    const [b, r] = await Promise.all([
      stack.acme.generations.wait(branch.id, { timeoutMs: 90_000 }),
      stack.acme.generations.wait(refined.id, { timeoutMs: 90_000 }),
    ]);
    expect([b.state, r.state]).toEqual(['succeeded', 'succeeded']);
    for (const g of [b, r]) {
      for (const checkpointId of [g.rootCheckpointId!, g.checkpointId!]) {
        expect(await refusal(stack.umbrella.generations.branch({ from: { checkpointId } }))).toMatchObject({ code: 'NOT_FOUND' });
        expect((await stack.acme.generations.branch({ from: { checkpointId }, overrides: { steps: 4 } })).id).toMatch(/^gen-/);
      }
    }
  }, 150_000);

  it("a tenant that made the same content owns it too; a batch item's checkpoints are its batch's tenant's", async () => {
    const same = await stack.umbrella.generations.wait((await stack.umbrella.generations.create(request)).id, { timeoutMs: 90_000 });
    expect(same.checkpointId).toBe(done.checkpointId);
    expect((await stack.umbrella.generations.branch({ from: { checkpointId: done.checkpointId! } })).id).toMatch(/^gen-/);

    const batch = await stack.acme.batches.create({ items: [{ ...request, seed: 99 }], concurrency: 1 });
    const finished = await stack.acme.batches.wait(batch.id, { timeoutMs: 90_000 });
    const item = await stack.acme.generations.get(finished.items[0]!.id);
    expect(item.state).toBe('succeeded');
    expect((await stack.acme.generations.branch({ from: { checkpointId: item.checkpointId! } })).id).toMatch(/^gen-/);
    expect(await refusal(stack.umbrella.generations.branch({ from: { checkpointId: item.checkpointId! } }))).toMatchObject({
      code: 'NOT_FOUND',
    });
  }, 150_000);
});
