import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchStatus, GenerationState } from '@oneflow/contracts';
import type { BatchView } from '../outputs.js';
import { codeOf, collectTracked, refusalOf, testApi, type TestApi } from './testing.js';

// The batch services through the app router over the fake Workflows.

let api: TestApi;
beforeEach(async () => {
  api = await testApi({ watchIntervalMs: 1 });
});
afterEach(() => api.close());

const request = { model: 'toy', prompt: 'draw a seven', seed: 3 } as const;
const zero: Record<GenerationState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0, expired: 0 };

/** What the batch workflow answers: the given item states, counted. */
function status(batchId: string, state: BatchStatus['state'], items: GenerationState[]): BatchStatus {
  const counts = { ...zero };
  for (const s of items) counts[s] += 1;
  return {
    batchId,
    state,
    counts,
    items: items.map((s, i) => ({ generationId: `${batchId}-${i}`, state: s, final: null, error: s === 'failed' ? 'boom' : null })),
  };
}

describe('batches', () => {
  it('create starts one batch workflow with an item per request (`<batch id>-<index>`), all queued', async () => {
    const acme = api.as('acme');
    const batch = await acme.batches.create({ items: [request, { ...request, seed: 4 }], concurrency: 2 });
    expect(batch.id).toMatch(/^batch-[0-9a-f-]{36}$/);
    expect(batch).toMatchObject({ state: 'running', counts: { ...zero, queued: 2 }, finishedAt: null });
    expect(batch.items.map((i) => [i.id, i.state])).toEqual([
      [`${batch.id}-0`, 'queued'],
      [`${batch.id}-1`, 'queued'],
    ]);
    expect(api.workflows.started).toMatchObject([
      {
        workflow: 'batch',
        workflowId: batch.id,
        attributes: { tenant: 'acme', batchId: batch.id },
        args: {
          batchId: batch.id,
          concurrency: 2,
          tenant: 'acme',
          items: [
            { generationId: `${batch.id}-0`, root: { kind: 'new', request } },
            { generationId: `${batch.id}-1`, root: { kind: 'new', request: { ...request, seed: 4 } } },
          ],
        },
      },
    ]);
  });

  it('refuses a batch with one bad item (BAD_REQUEST naming the item) and starts nothing', async () => {
    expect(await refusalOf(api.as('acme').batches.create({ items: [request, { ...request, prompt: 'draw a unicorn' }] }))).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/^items\.1: .*"unicorn"/) as unknown,
    });
    expect(api.workflows.started).toEqual([]);
  });

  it('get shows the workflow’s status; without a worker to answer, the items visibility lists', async () => {
    const acme = api.as('acme');
    const batch = await acme.batches.create({ items: [request, request, request] });
    api.workflows.setBatchStatus(batch.id, status(batch.id, 'running', ['succeeded', 'running', 'queued']));
    const view = await acme.batches.get({ id: batch.id });
    expect(view.counts).toEqual({ ...zero, succeeded: 1, running: 1, queued: 1 });
    expect(view.items.map((i) => i.state)).toEqual(['succeeded', 'running', 'queued']);
    // No answer: the children that have started, from visibility (their own ownership through the batch).
    api.workflows.setBatchStatus(batch.id, null);
    const first = api.workflows.startChild(batch.id, 0);
    const second = api.workflows.startChild(batch.id, 1);
    await api.workflows.finish(first);
    await api.workflows.begin(second);
    const listed = await acme.batches.get({ id: batch.id });
    expect(listed.items.map((i) => [i.id, i.state])).toEqual([
      [first, 'succeeded'],
      [second, 'running'],
    ]);
    expect(listed.counts).toEqual({ ...zero, succeeded: 1, running: 1 });
    // A timed-out batch is expired whatever its items say.
    api.workflows.close(batch.id, 'TIMED_OUT');
    expect((await acme.batches.get({ id: batch.id })).state).toBe('expired');
  });

  it('a batch item is its tenant’s generation even before its first task (the parent’s tenant counts)', async () => {
    const batch = await api.as('acme').batches.create({ items: [request] });
    const item = api.workflows.startChild(batch.id, 0);
    expect(api.workflows.run(item).tenant).toBeNull();
    expect(await api.as('acme').generations.get({ id: item })).toMatchObject({ id: item, state: 'queued', batchId: batch.id });
    expect(await codeOf(api.as('umbrella').generations.get({ id: item }))).toBe('NOT_FOUND');
  });

  it('list is the tenant’s batches, newest first, by state', async () => {
    const acme = api.as('acme');
    const a = await acme.batches.create({ items: [request] });
    const b = await acme.batches.create({ items: [request] });
    await api.as('umbrella').batches.create({ items: [request] });
    api.workflows.setBatchStatus(a.id, status(a.id, 'succeeded', ['succeeded']), 'succeeded');
    api.workflows.close(a.id, 'COMPLETED');
    expect((await acme.batches.list({})).items.map((i) => [i.id, i.state])).toEqual([
      [b.id, 'running'],
      [a.id, 'succeeded'],
    ]);
    expect((await acme.batches.list({ state: 'succeeded' })).items.map((i) => i.id)).toEqual([a.id]);
  });

  it('watch sends the view when an item starts or finishes, resumes after lastEventId, and ends with the batch', async () => {
    const acme = api.as('acme');
    const batch = await acme.batches.create({ items: [request, request] });
    const script: [BatchStatus['state'], GenerationState[]][] = [
      ['running', ['queued', 'queued']],
      ['running', ['running', 'queued']],
      ['running', ['running', 'queued']], // no change: no event
      ['running', ['succeeded', 'running']],
      ['partial', ['succeeded', 'failed']],
    ];
    let poll = 0;
    api.workflows.beforeDescribe = (id) => {
      if (id !== batch.id) return;
      const [state, items] = script[Math.min(poll++, script.length - 1)]!;
      api.workflows.setBatchStatus(batch.id, status(batch.id, state, items), state);
    };
    const views = (await collectTracked<BatchView>(await acme.batches.watch({ id: batch.id }))).map(({ id, data }) => ({ id, view: data }));
    expect(views.map((v) => v.id)).toEqual(['0.0.running', '0.1.running', '1.2.running', '2.2.partial']);
    expect(views.at(-1)!.view.items.map((i) => [i.state, i.error])).toEqual([
      ['succeeded', null],
      ['failed', 'boom'],
    ]);
    api.workflows.beforeDescribe = null;
    const after = await collectTracked(await acme.batches.watch({ id: batch.id, lastEventId: '2.2.partial' }));
    expect(after).toEqual([]);
  });

  it('cancel asks a running batch to stop; a finished one is PRECONDITION_FAILED, another tenant’s NOT_FOUND', async () => {
    const acme = api.as('acme');
    const batch = await acme.batches.create({ items: [request] });
    expect(await codeOf(api.as('umbrella').batches.cancel({ id: batch.id }))).toBe('NOT_FOUND');
    expect(await codeOf(api.as('umbrella').batches.get({ id: batch.id }))).toBe('NOT_FOUND');
    expect(await acme.batches.cancel({ id: batch.id })).toEqual({ id: batch.id, cancelRequested: true });
    expect(api.workflows.canceled).toEqual([batch.id]);
    api.workflows.close(batch.id, 'CANCELLED');
    expect(await refusalOf(acme.batches.cancel({ id: batch.id }))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: `batch ${batch.id} is not running`,
    });
    // A generation is not a batch.
    const g = await acme.generations.create(request);
    expect(await codeOf(acme.batches.get({ id: g.id }))).toBe('NOT_FOUND');
  });
});
