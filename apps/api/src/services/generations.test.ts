import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointReader, InvalidInputError } from '@oneflow/engine';
import { appRouter } from '../routers/_app.js';
import { createCallerFactory } from '../trpc.js';
import { codeOf, refusalOf, testApi, toyModels, type TestApi } from './testing.js';

// The generation services through the app router (createCaller + an inner context) over a fake
// `Workflows` whose worker writes real checkpoints that the engine's reader reads back.

let api: TestApi;
beforeEach(async () => {
  api = await testApi();
});
afterEach(() => api.close());

const request = { model: 'toy', prompt: 'draw a seven', seed: 3 } as const;

describe('generations.create', () => {
  it('starts a generation workflow for the tenant (tenant, step 0 and model as attributes) and answers its queued view', async () => {
    const acme = api.as('acme');
    const first = await acme.generations.create(request);
    const second = await acme.generations.create({ ...request, seed: 4 });
    expect(first).toMatchObject({ state: 'queued', step: 0, text: '', checkpointId: null, queuePosition: 0, parentId: null });
    expect(second.queuePosition).toBe(1);
    expect(first.id).toMatch(/^gen-[0-9a-f-]{36}$/);
    const start = api.workflows.started[0]!;
    expect(start).toMatchObject({
      workflow: 'generation',
      workflowId: first.id,
      attributes: { tenant: 'acme', step: 0, model: 'toy' },
      useExisting: false,
      reuse: false,
      args: { generationId: first.id, root: { kind: 'new', request }, stepsPerActivity: 4, tenant: 'acme' },
    });
    expect(start.memo.tenant).toBe('acme');
    expect(start.memo.requestHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('starts every job with adaptive steps per activity when the deployment sets MIN_ACTIVITY_MS (generations, resumes, branches, batches)', async () => {
    const adaptive = await testApi({ minActivityMs: 2000 });
    try {
      const acme = adaptive.as('acme');
      const g = await acme.generations.create(request);
      await adaptive.workflows.finish(g.id);
      await acme.generations.branch({ from: { generationId: g.id }, overrides: { seed: 9 } });
      await acme.batches.create({ items: [request], concurrency: 1 });
      const started = adaptive.workflows.started.map((s) => s.args as { stepsPerActivity: number; minActivityMs?: number });
      expect(started).toHaveLength(3);
      for (const args of started) expect(args).toMatchObject({ stepsPerActivity: 4, minActivityMs: 2000 });
    } finally {
      adaptive.close();
    }
    // Without it (the default here): the fixed steps per activity, no minActivityMs in the input.
    await api.as('acme').generations.create(request);
    expect(api.workflows.started.at(-1)!.args).not.toHaveProperty('minActivityMs');
  });

  it('is idempotent per tenant and key: a retry gets the same generation, another request under the key is a CONFLICT', async () => {
    const acme = api.as('acme');
    const a = await acme.generations.create({ ...request, idempotencyKey: 'k-1' });
    const b = await acme.generations.create({ ...request, idempotencyKey: 'k-1' });
    expect(b.id).toBe(a.id);
    expect(await refusalOf(acme.generations.create({ ...request, seed: 9, idempotencyKey: 'k-1' }))).toEqual({
      code: 'CONFLICT',
      message: 'this idempotency key was used for a different request',
    });
    const theirs = await api.as('umbrella').generations.create({ ...request, idempotencyKey: 'k-1' });
    expect(theirs.id).not.toBe(a.id);
  });

  it('answers BAD_REQUEST with the engine’s reason for input it would refuse, and starts nothing', async () => {
    const acme = api.as('acme');
    expect(await refusalOf(acme.generations.create({ ...request, prompt: 'draw a cat' }))).toEqual({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('"cat" is not in the model\'s vocabulary') as unknown,
    });
    expect(await refusalOf(acme.generations.create({ ...request, model: 'nope' }))).toEqual({
      code: 'BAD_REQUEST',
      message: 'unknown model "nope"; models: toy',
    });
    // The input schema's bounds, before any service runs.
    expect(await codeOf(acme.generations.create({ ...request, steps: 0 }))).toBe('BAD_REQUEST');
    // A webhook needs the tenant's signing secret (umbrella has none).
    expect(
      await refusalOf(api.as('umbrella').generations.create({ ...request, webhook: { url: 'https://hooks.example.com/x' } })),
    ).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('no webhook signing secret is configured for tenant umbrella') as unknown,
    });
    expect(api.workflows.started).toEqual([]);
  });

  it('maps only InvalidInputError to BAD_REQUEST: any other failure of the reader is ours (INTERNAL_SERVER_ERROR)', async () => {
    const reader = new CheckpointReader(api.store, toyModels);
    const failing = await testApi({
      checkpoints: {
        snapshot: (id) => reader.snapshot(id),
        chain: (h, f, l) => reader.chain(h, f, l),
        ancestorAt: (h, s) => reader.ancestorAt(h, s),
        png: (id, k) => reader.png(id, k),
        validateDerive: (id, c) => reader.validateDerive(id, c),
        validateRequest: (r) =>
          Promise.reject(
            (r as { seed?: number }).seed === 1 ? new InvalidInputError('seed 1 is refused here') : new TypeError('store down'),
          ),
      },
    });
    try {
      expect(await refusalOf(failing.as('acme').generations.create({ ...request, seed: 1 }))).toEqual({
        code: 'BAD_REQUEST',
        message: 'seed 1 is refused here',
      });
      expect(await codeOf(failing.as('acme').generations.create(request))).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      failing.close();
    }
  });
});

describe('generations.get', () => {
  it('shows progress from the newest checkpoint: running at step 2, the step in flight, then succeeded', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    const root = await api.workflows.begin(id);
    await api.workflows.advance(id, 2);
    const running = await acme.generations.get({ id });
    expect(running).toMatchObject({ state: 'running', step: 2, steps: 4, tText: 0.5, text: 'seven two', images: [], queuePosition: null });
    expect(running.rootCheckpointId).toBe(root.id);
    expect(running.checkpointId).toBe(api.workflows.run(id).memo.headCheckpointId);
    // A step the workflow has not recorded yet (heartbeat) is the newest.
    const inFlight = await api.workflows.advance(id, 1, { inFlight: true });
    expect(await acme.generations.get({ id })).toMatchObject({ step: 3, checkpointId: inFlight.id, text: 'seven two seven' });
    // A heartbeat checkpoint lost with its machine: the recorded head again.
    api.workflows.run(id).heartbeat = { step: 3, checkpointId: 'f'.repeat(64) };
    expect((await acme.generations.get({ id })).step).toBe(2);
    api.workflows.run(id).heartbeat = null;
    await api.workflows.finish(id);
    const done = await acme.generations.get({ id });
    expect(done).toMatchObject({ state: 'succeeded', step: 4, steps: 4, tText: 1, text: 'seven two seven two', error: null });
    expect(done.finishedAt).not.toBeNull();
  });

  it('reports why a failed or expired generation stopped', async () => {
    const acme = api.as('acme');
    const failed = await acme.generations.create(request);
    await api.workflows.begin(failed.id);
    api.workflows.close(failed.id, 'FAILED', 'model exploded at step 1');
    expect(await acme.generations.get({ id: failed.id })).toMatchObject({ state: 'failed', error: 'model exploded at step 1', step: 0 });
    const expired = await acme.generations.create({ ...request, seed: 5 });
    api.workflows.close(expired.id, 'TIMED_OUT', 'deadline passed before it finished');
    expect(await acme.generations.get({ id: expired.id })).toMatchObject({
      state: 'expired',
      error: 'deadline passed before it finished',
      checkpointId: null,
    });
  });
});

describe('generations.list', () => {
  it('lists the tenant’s generations newest first, by state (queued vs running is ours), paged by cursor', async () => {
    const acme = api.as('acme');
    const ids: string[] = [];
    for (const seed of [1, 2, 3]) ids.push((await acme.generations.create({ ...request, seed })).id);
    await api.workflows.begin(ids[1]!);
    await api.workflows.finish(ids[2]!);
    await api.as('umbrella').generations.create(request);
    const all = await acme.generations.list({});
    expect(all.items.map((i) => [i.id, i.state])).toEqual([
      [ids[2], 'succeeded'],
      [ids[1], 'running'],
      [ids[0], 'queued'],
    ]);
    expect(all.items[0]).toMatchObject({ step: 4, model: 'toy', checkpointId: api.workflows.run(ids[2]!).memo.headCheckpointId });
    expect((await acme.generations.list({ state: 'queued' })).items.map((i) => i.id)).toEqual([ids[0]]);
    expect((await acme.generations.list({ state: 'running' })).items.map((i) => i.id)).toEqual([ids[1]]);
    const first = await acme.generations.list({ limit: 2 });
    expect(first.items.map((i) => i.id)).toEqual([ids[2], ids[1]]);
    const second = await acme.generations.list({ limit: 2, cursor: first.nextCursor! });
    expect([second.items.map((i) => i.id), second.nextCursor]).toEqual([[ids[0]], null]);
    expect(await codeOf(acme.generations.list({ cursor: 'bm90LWEtY3Vyc29y' }))).toBe('BAD_REQUEST');
  });
});

describe('generations.cancel and resume', () => {
  it('cancels a running generation; resume continues from its newest checkpoint under the same id, keeping its root', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    const root = await api.workflows.begin(id);
    const head = await api.workflows.advance(id, 2);
    expect((await acme.generations.cancel({ id })).id).toBe(id);
    expect(api.workflows.canceled).toEqual([id]);
    api.workflows.close(id, 'CANCELLED');
    expect(await refusalOf(acme.generations.cancel({ id }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${id} is not running`,
    });

    const resumed = await acme.generations.resume({ id });
    expect(resumed).toMatchObject({ id, state: 'running', step: 2, checkpointId: head.id, rootCheckpointId: root.id });
    expect(api.workflows.started.at(-1)).toMatchObject({
      workflowId: id,
      reuse: true,
      args: { root: { kind: 'resume', checkpointId: head.id } },
      memo: { resumedFrom: head.id, originRoot: root.id, tenant: 'acme' },
    });
    expect(await refusalOf(acme.generations.resume({ id }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${id} is running`,
    });
    await api.workflows.begin(id);
    await api.workflows.finish(id);
    const done = await acme.generations.get({ id });
    expect(done).toMatchObject({ state: 'succeeded', step: 4, rootCheckpointId: root.id });
    // One chain across both runs: every step from the first root.
    expect((await acme.generations.steps({ id })).items.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
    expect(await refusalOf(acme.generations.resume({ id }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${id} has already succeeded`,
    });
  });

  it('refuses to resume a generation that stopped before its first checkpoint', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    api.workflows.close(id, 'CANCELLED');
    expect(await refusalOf(acme.generations.resume({ id }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${id} stopped before its first checkpoint; create it again`,
    });
  });
});

describe('generations.branch and refine', () => {
  it('branches from a step of a generation (its checkpoint at that step, with overrides), or from a checkpoint id', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.finish(id);
    const atTwo = (await acme.generations.steps({ id })).items[2]!;
    const branch = await acme.generations.branch({ from: { generationId: id, step: 2 }, overrides: { seed: 99, steps: 8 } });
    expect(branch).toMatchObject({ state: 'queued', parentId: id });
    expect(api.workflows.started.at(-1)).toMatchObject({
      workflowId: branch.id,
      attributes: { tenant: 'acme', parentId: id, model: 'toy' },
      args: { root: { kind: 'checkpoint', checkpointId: atTwo.checkpointId, overrides: { seed: 99, steps: 8 }, parentGenerationId: id } },
    });
    const root = await api.workflows.begin(branch.id);
    expect(root.parent).toBe(atTwo.checkpointId);
    expect(root.state.params.steps).toBe(8);
    // The newest step by default; a checkpoint id has no parent generation.
    await acme.generations.branch({ from: { generationId: id } });
    expect(api.workflows.started.at(-1)!.args).toMatchObject({ root: { checkpointId: api.workflows.run(id).memo.headCheckpointId } });
    const byId = await acme.generations.branch({ from: { checkpointId: atTwo.checkpointId } });
    expect(byId.parentId).toBeNull();
    expect(api.workflows.started.at(-1)!.attributes.parentId).toBeUndefined();
  });

  it('refuses branch points it does not have: past the head, before the branch’s own root, unknown checkpoint, no checkpoint yet', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.finish(id);
    expect(await refusalOf(acme.generations.branch({ from: { generationId: id, step: 7 } }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${id} has reached step 4, not 7`,
    });
    const branch = await acme.generations.branch({ from: { generationId: id, step: 2 } });
    await api.workflows.finish(branch.id);
    expect(await refusalOf(acme.generations.branch({ from: { generationId: branch.id, step: 1 } }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${branch.id} starts at step 2; no checkpoint at step 1`,
    });
    expect(await refusalOf(acme.generations.branch({ from: { checkpointId: 'e'.repeat(64) } }))).toEqual({
      code: 'NOT_FOUND',
      message: `checkpoint ${'e'.repeat(64)} not found (never stored, or collected by retention)`,
    });
    const queued = await acme.generations.create({ ...request, seed: 8 });
    expect(await refusalOf(acme.generations.branch({ from: { generationId: queued.id } }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `generation ${queued.id} has no checkpoint yet`,
    });
  });

  it('refines with an op the engine accepts, and answers BAD_REQUEST (the engine’s reason) for one it refuses', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.finish(id);
    const before = api.workflows.started.length;
    expect(
      await refusalOf(acme.generations.refine({ from: { generationId: id }, op: { op: 'deleteText', start: 3, end: 6, reopenTo: 0.5 } })),
    ).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('of the 4 generated tokens [0, 4)') as unknown });
    expect(
      await refusalOf(acme.generations.refine({ from: { generationId: id }, op: { op: 'replacePrompt', prompt: 'draw a dog' } })),
    ).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('"dog"') as unknown });
    expect(
      await refusalOf(acme.generations.refine({ from: { generationId: id }, op: { op: 'renoiseImage', image: 0, to: 0.5 } })),
    ).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('out of range') as unknown,
    });
    expect(api.workflows.started.length).toBe(before);

    // Positions count the generated output: tokens 1 and 2 of "seven two seven two".
    const op = { op: 'deleteText', start: 1, end: 3, reopenTo: 0.5 } as const;
    const refined = await acme.generations.refine({ from: { generationId: id }, op });
    expect(refined.parentId).toBe(id);
    expect(api.workflows.started.at(-1)!.args).toMatchObject({ root: { kind: 'checkpoint', refine: op, parentGenerationId: id } });
    const root = await api.workflows.begin(refined.id);
    // <bos> draw a seven <sep> | seven two seven two, without generated [1, 3): seven two; the text clock reopened.
    expect(root.state.tokens.slice(5)).toEqual([6, 7]);
    expect(root.state.tText).toBe(0.5);
  });
});

describe('generations.steps', () => {
  it('lists every finished step oldest first, paged by nextStep, text and pieces consistent', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    expect(await acme.generations.steps({ id })).toEqual({ items: [], nextStep: null });
    await api.workflows.finish(id);
    const all = await acme.generations.steps({ id });
    expect(all.nextStep).toBeNull();
    expect(all.items.map((s) => [s.step, s.text, s.tText, s.done])).toEqual([
      [0, '', 0, false],
      [1, 'seven', 0.25, false],
      [2, 'seven two', 0.5, false],
      [3, 'seven two seven', 0.75, false],
      [4, 'seven two seven two', 1, true],
    ]);
    for (const s of all.items) expect(s.pieces.join('')).toBe(s.text);
    expect(all.items[4]!.checkpointId).toBe((await acme.generations.get({ id })).checkpointId);
    const pages: number[][] = [];
    let from: number | null = 0;
    while (from !== null) {
      const page: Awaited<ReturnType<typeof acme.generations.steps>> = await acme.generations.steps({ id, fromStep: from, limit: 2 });
      pages.push(page.items.map((s) => s.step));
      from = page.nextStep;
    }
    expect(pages).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('starts a branch’s steps at its branch point', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.finish(id);
    const branch = await acme.generations.branch({ from: { generationId: id, step: 2 } });
    await api.workflows.finish(branch.id);
    const steps = await acme.generations.steps({ id: branch.id, fromStep: 0 });
    expect(steps.items.map((s) => s.step)).toEqual([2, 3, 4]);
    // Its step 2 is its own root (derived from the parent's step 2), not the parent's checkpoint.
    expect(steps.items[0]!.checkpointId).toBe(api.workflows.run(branch.id).memo.rootCheckpointId);
  });

  it('refuses another tenant (NOT_FOUND) and bad input (BAD_REQUEST)', async () => {
    const { id } = await api.as('acme').generations.create(request);
    await api.workflows.finish(id);
    expect(await codeOf(api.as('umbrella').generations.steps({ id }))).toBe('NOT_FOUND');
    expect(await codeOf(api.as('acme').generations.steps({ id, limit: 0 }))).toBe('BAD_REQUEST');
    expect(await codeOf(api.as('acme').generations.steps({ id, fromStep: -1 }))).toBe('BAD_REQUEST');
    expect(await codeOf(api.as('acme').generations.steps({ id: 'not an id!' }))).toBe('BAD_REQUEST');
  });
});

describe('tenant isolation', () => {
  it('answers NOT_FOUND for another tenant’s generation everywhere, as for one that does not exist', async () => {
    const { id } = await api.as('acme').generations.create(request);
    await api.workflows.finish(id);
    const u = api.as('umbrella');
    const calls = {
      get: () => u.generations.get({ id }),
      cancel: () => u.generations.cancel({ id }),
      resume: () => u.generations.resume({ id }),
      branch: () => u.generations.branch({ from: { generationId: id, step: 1 } }),
      refine: () => u.generations.refine({ from: { generationId: id }, op: { op: 'replacePrompt', prompt: 'draw a seven' } }),
      lineage: () => u.generations.lineage({ id }),
      steps: () => u.generations.steps({ id }),
    };
    for (const [name, call] of Object.entries(calls))
      expect(await refusalOf(call()), name).toEqual({ code: 'NOT_FOUND', message: `generation ${id} not found` });
    expect(await refusalOf(u.generations.get({ id: 'gen-missing' }))).toEqual({
      code: 'NOT_FOUND',
      message: 'generation gen-missing not found',
    });
    expect((await u.generations.list({})).items).toEqual([]);
    expect(api.workflows.canceled).toEqual([]);
    // A batch is not a generation, even for its own tenant.
    const batch = await api.as('acme').batches.create({ items: [request] });
    expect(await codeOf(api.as('acme').generations.get({ id: batch.id }))).toBe('NOT_FOUND');
  });

  it('UNAUTHORIZED without a key', async () => {
    const anonymous = createCallerFactory(appRouter)({
      temporal: { address: 'x', namespace: 'x', ping: () => Promise.resolve(true), client: () => Promise.reject(new Error('unused')) },
      workflows: api.workflows,
      version: 'test',
      startedAt: 0,
      jobs: api.jobs,
      principal: null,
    });
    expect(await codeOf(anonymous.generations.get({ id: 'gen-x' }))).toBe('UNAUTHORIZED');
  });
});
