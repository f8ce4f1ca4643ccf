import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WatchEvent } from '../outputs.js';
import { codeOf, collectTracked, testApi, type TestApi } from './testing.js';

// generations.watch through the app router over the fake Workflows: the fake worker moves the
// generation on between two polls (`beforeDescribe`), so every run of the stream is the same.

let api: TestApi;
beforeEach(async () => {
  api = await testApi({ watchIntervalMs: 1 });
});
afterEach(() => api.close());

const request = { model: 'toy', prompt: 'draw a seven', seed: 3 } as const;

/** The stream's events as `{ id, event }`, until it ends. */
async function collect(stream: AsyncIterable<unknown>): Promise<{ id: string; event: WatchEvent }[]> {
  return (await collectTracked<WatchEvent>(stream)).map(({ id, data }) => ({ id, event: data }));
}

describe('generations.watch', () => {
  it('reports every step in order, even several finished between two polls, then the final state, and ends', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    let polls = 0;
    api.workflows.beforeDescribe = async (which) => {
      if (which !== id) return;
      polls += 1;
      if (polls === 2) await api.workflows.begin(id);
      if (polls > 2) await api.workflows.advance(id, 2); // two steps per poll
    };
    const events = await collect(await acme.generations.watch({ id }));
    expect(events.map((e) => e.id)).toEqual(['0.queued', '0.running', '1.running', '2.running', '3.running', '4.succeeded']);
    expect(events.map((e) => e.event.text)).toEqual(['', '', 'seven', 'seven two', 'seven two seven', 'seven two seven two']);
    for (const { event } of events) expect(event.pieces.join('')).toBe(event.text);
    const last = events.at(-1)!.event;
    expect(last).toMatchObject({ state: 'succeeded', step: 4, steps: 4, tText: 1, error: null });
    expect(last.checkpointId).toBe((await acme.generations.get({ id })).checkpointId);
  });

  it('reports a generation seen running before its root checkpoint exists as queued, so step 0 comes with its checkpoint', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    let polls = 0;
    api.workflows.beforeDescribe = async (which) => {
      if (which !== id) return;
      polls += 1;
      if (polls === 1) api.workflows.run(id).awaitingWorker = false; // a worker took it; no root checkpoint yet
      if (polls === 3) await api.workflows.begin(id);
      if (polls > 3) await api.workflows.advance(id, 2);
    };
    const events = await collect(await acme.generations.watch({ id }));
    expect(events.map((e) => e.id)).toEqual(['0.queued', '0.running', '1.running', '2.running', '3.running', '4.succeeded']);
    expect(events[0]!.event.checkpointId).toBeNull();
    expect(events.slice(1).every((e) => e.event.checkpointId !== null)).toBe(true);
  });

  it('resumes right after lastEventId: no event lost, none repeated; after the final event there is nothing more', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.finish(id);
    const all = await collect(await acme.generations.watch({ id }));
    expect(all.map((e) => e.id)).toEqual(['0.running', '1.running', '2.running', '3.running', '4.succeeded']);
    for (let k = 0; k < all.length; k++) {
      const rest = await collect(await acme.generations.watch({ id, lastEventId: all[k]!.id }));
      expect(rest.map((e) => e.id)).toEqual(all.slice(k + 1).map((e) => e.id));
      expect(rest.map((e) => e.event.text)).toEqual(all.slice(k + 1).map((e) => e.event.text));
    }
    // An id it never sent (garbage) is a fresh start.
    expect((await collect(await acme.generations.watch({ id, lastEventId: 'not-an-id' }))).length).toBe(all.length);
  });

  it('ends with a canceled or failed generation’s state (and the failure)', async () => {
    const acme = api.as('acme');
    const canceled = await acme.generations.create(request);
    await api.workflows.begin(canceled.id);
    await api.workflows.advance(canceled.id, 2);
    api.workflows.close(canceled.id, 'CANCELLED');
    expect((await collect(await acme.generations.watch({ id: canceled.id }))).map((e) => e.id)).toEqual([
      '0.running',
      '1.running',
      '2.canceled',
    ]);
    const failed = await acme.generations.create({ ...request, seed: 4 });
    api.workflows.close(failed.id, 'FAILED', 'no worker could load the model');
    const events = await collect(await acme.generations.watch({ id: failed.id }));
    expect(events.map((e) => [e.id, e.event.error])).toEqual([['0.failed', 'no worker could load the model']]);
  });

  it('a resumed generation continues the stream after the canceled state', async () => {
    const acme = api.as('acme');
    const { id } = await acme.generations.create(request);
    await api.workflows.begin(id);
    await api.workflows.advance(id, 2);
    api.workflows.close(id, 'CANCELLED');
    await acme.generations.resume({ id });
    await api.workflows.begin(id);
    await api.workflows.finish(id);
    const rest = await collect(await acme.generations.watch({ id, lastEventId: '2.canceled' }));
    expect(rest.map((e) => e.id)).toEqual(['3.running', '4.succeeded']);
  });

  it('stops when the client goes away (the signal aborts while it waits)', async () => {
    const { id } = await api.as('acme').generations.create(request);
    await api.workflows.begin(id);
    const controller = new AbortController();
    const acme = api.as('acme', { signal: controller.signal });
    const seen: string[] = [];
    await collectTracked(await acme.generations.watch({ id }), (eventId) => {
      seen.push(eventId);
      controller.abort();
    });
    expect(seen).toEqual(['0.running']);
  }, 5_000);

  it('another tenant gets NOT_FOUND', async () => {
    const { id } = await api.as('acme').generations.create(request);
    expect(await codeOf(collect(await api.as('umbrella').generations.watch({ id })))).toBe('NOT_FOUND');
  });
});
