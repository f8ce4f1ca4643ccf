import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refusalOf, testApi, type TestApi } from './testing.js';

// Branching from a raw checkpoint id is authorised by ownership (the markers the worker writes for
// each checkpoint a tenant's generation stores), not by knowing the hash. Services through the
// app router over the fake Workflows, whose worker writes real checkpoints and real markers.

let api: TestApi;
beforeEach(async () => {
  api = await testApi();
});
afterEach(() => api.close());

const request = { model: 'toy', prompt: 'draw a seven', seed: 3 } as const;
const deleteText = { op: 'deleteText', start: 1, end: 3, reopenTo: 0.5 } as const;
const unknown = 'e'.repeat(64);

/** What a tenant is told for a checkpoint id nobody ever stored. */
async function neverStored(tenant: string, refine = false) {
  const as = api.as(tenant);
  return refine
    ? refusalOf(as.generations.refine({ from: { checkpointId: unknown }, op: deleteText }))
    : refusalOf(as.generations.branch({ from: { checkpointId: unknown } }));
}
/** The same answer with the unknown id replaced by `id`. */
const sameAs = (answer: { code: string; message: string }, id: string) => ({ ...answer, message: answer.message.replace(unknown, id) });

describe('branch and refine from a raw checkpoint id', () => {
  it("another tenant's checkpoint (root, any step, final, in flight) is NOT_FOUND exactly like one never stored, and starts nothing", async () => {
    const acme = api.as('acme');
    const umbrella = api.as('umbrella');
    const { id } = await acme.generations.create(request);
    const root = await api.workflows.begin(id);
    await api.workflows.advance(id, 2);
    const inFlight = await api.workflows.advance(id, 1, { inFlight: true });
    await api.workflows.finish(id);
    const steps = (await acme.generations.steps({ id })).items;
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
    const ids = [root.id, steps[2]!.checkpointId, inFlight.id, steps.at(-1)!.checkpointId];

    const branchAnswer = await neverStored('umbrella');
    const refineAnswer = await neverStored('umbrella', true);
    expect(branchAnswer).toEqual({ code: 'NOT_FOUND', message: expect.stringContaining(`checkpoint ${unknown} not found`) as unknown });
    const before = api.workflows.started.length;
    for (const checkpointId of ids) {
      expect(await refusalOf(umbrella.generations.branch({ from: { checkpointId } }))).toEqual(sameAs(branchAnswer, checkpointId));
      expect(await refusalOf(umbrella.generations.branch({ from: { checkpointId }, overrides: { seed: 5 } }))).toEqual(
        sameAs(branchAnswer, checkpointId),
      );
      expect(await refusalOf(umbrella.generations.refine({ from: { checkpointId }, op: deleteText }))).toEqual(
        sameAs(refineAnswer, checkpointId),
      );
    }
    expect(api.workflows.started.length).toBe(before);

    // The owner branches every one of them; the branch's root is the owner's too.
    for (const checkpointId of ids) expect((await acme.generations.branch({ from: { checkpointId } })).state).toBe('queued');
    const refined = await acme.generations.refine({ from: { checkpointId: steps.at(-1)!.checkpointId }, op: deleteText });
    const refinedRoot = await api.workflows.begin(refined.id);
    expect(refinedRoot.parent).toBe(steps.at(-1)!.checkpointId);
    expect((await acme.generations.branch({ from: { checkpointId: refinedRoot.id } })).state).toBe('queued');
    expect(await refusalOf(umbrella.generations.branch({ from: { checkpointId: refinedRoot.id } }))).toEqual(
      sameAs(branchAnswer, refinedRoot.id),
    );
  });

  it('a tenant that made the same content owns it too (content-addressed ids); a third tenant still does not', async () => {
    const acme = api.as('acme');
    const umbrella = api.as('umbrella');
    const a = await acme.generations.create(request);
    const u = await umbrella.generations.create(request);
    const [ha, hu] = [await api.workflows.finish(a.id), await api.workflows.finish(u.id)];
    expect(hu.id).toBe(ha.id);
    expect((await umbrella.generations.branch({ from: { checkpointId: ha.id } })).state).toBe('queued');
    expect(await refusalOf(api.as('globex').generations.branch({ from: { checkpointId: ha.id } }))).toEqual(
      sameAs(await neverStored('globex'), ha.id),
    );
  });

  it("a batch item's checkpoints are its batch's tenant's", async () => {
    const acme = api.as('acme');
    const batch = await acme.batches.create({ items: [{ ...request, seed: 11 }], concurrency: 1 });
    const item = api.workflows.startChild(batch.id, 0);
    const head = await api.workflows.finish(item);
    expect((await acme.generations.branch({ from: { checkpointId: head.id } })).state).toBe('queued');
    expect(await refusalOf(api.as('umbrella').generations.branch({ from: { checkpointId: head.id } }))).toEqual(
      sameAs(await neverStored('umbrella'), head.id),
    );
  });

  it('a marker whose blob is gone (collected by retention) is NOT_FOUND for the owner too; a malformed id is BAD_REQUEST', async () => {
    const acme = api.as('acme');
    const gone = 'd'.repeat(64);
    await api.owners.record('acme', [gone]);
    expect(await api.owners.owns('acme', gone)).toBe(true);
    expect(await refusalOf(acme.generations.branch({ from: { checkpointId: gone } }))).toEqual(sameAs(await neverStored('acme'), gone));
    expect((await refusalOf(acme.generations.branch({ from: { checkpointId: 'E'.repeat(64) } }))).code).toBe('BAD_REQUEST');
    expect(api.workflows.started).toHaveLength(0);
  });
});
