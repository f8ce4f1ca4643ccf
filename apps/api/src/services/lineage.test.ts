import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, testApi, type TestApi } from './testing.js';

// generations.lineage through the app router over the fake Workflows (a tree of real checkpoints).

let api: TestApi;
beforeEach(async () => {
  api = await testApi();
});
afterEach(() => api.close());

const request = { model: 'toy', prompt: 'draw a seven', seed: 3 } as const;

describe('generations.lineage', () => {
  it('is the whole tree from the topmost ancestor, each node with its branch point', async () => {
    const acme = api.as('acme');
    // a ─┬─ b (from a's step 2) ── c (from b's step 3)
    //    └─ d (refine of a's newest step)
    const a = await acme.generations.create(request);
    await api.workflows.finish(a.id);
    const b = await acme.generations.branch({ from: { generationId: a.id, step: 2 }, overrides: { seed: 7 } });
    await api.workflows.finish(b.id);
    const c = await acme.generations.branch({ from: { generationId: b.id, step: 3 } });
    await api.workflows.begin(c.id);
    const d = await acme.generations.refine({ from: { generationId: a.id }, op: { op: 'replacePrompt', prompt: 'draw a two' } });
    const steps = async (id: string) => (await acme.generations.steps({ id, fromStep: 0 })).items;
    const aSteps = await steps(a.id);
    const bSteps = await steps(b.id);

    for (const from of [a.id, b.id, c.id, d.id]) {
      const tree = await acme.generations.lineage({ id: from });
      expect(tree.rootId, from).toBe(a.id);
      const byId = new Map(tree.nodes.map((n) => [n.id, n]));
      expect([...byId.keys()].sort()).toEqual([a.id, b.id, c.id, d.id].sort());
      expect(byId.get(a.id)).toMatchObject({ parentId: null, branchedFrom: null, state: 'succeeded', step: 4 });
      expect(byId.get(b.id)).toMatchObject({
        parentId: a.id,
        branchedFrom: { checkpointId: aSteps[2]!.checkpointId, step: 2 },
        state: 'succeeded',
      });
      expect(byId.get(c.id)).toMatchObject({
        parentId: b.id,
        branchedFrom: { checkpointId: bSteps[1]!.checkpointId, step: 3 },
        state: 'running',
      });
      // Not started yet: no root checkpoint, so no branch point to show.
      expect(byId.get(d.id)).toMatchObject({ parentId: a.id, state: 'queued', rootCheckpointId: null, branchedFrom: null });
      expect(byId.get(b.id)!.rootCheckpointId).toBe(api.workflows.run(b.id).memo.rootCheckpointId);
    }
    // Parents come before their children (breadth first from the root).
    const order = (await acme.generations.lineage({ id: c.id })).nodes.map((n) => n.id);
    expect(order[0]).toBe(a.id);
    expect(order.indexOf(b.id)).toBeLessThan(order.indexOf(c.id));
  });

  it('keeps tenants apart: another tenant’s branch of a checkpoint id is not in the tree, and the tree is NOT_FOUND for it', async () => {
    const acme = api.as('acme');
    const a = await acme.generations.create(request);
    await api.workflows.finish(a.id);
    const head = (await acme.generations.get({ id: a.id })).checkpointId!;
    // Umbrella may branch that checkpoint id only because its own generation made the same content.
    const same = await api.as('umbrella').generations.create(request);
    expect((await api.workflows.finish(same.id)).id).toBe(head);
    const theirs = await api.as('umbrella').generations.branch({ from: { checkpointId: head } });
    expect(theirs.parentId).toBeNull();
    expect((await acme.generations.lineage({ id: a.id })).nodes.map((n) => n.id)).toEqual([a.id]);
    expect((await api.as('umbrella').generations.lineage({ id: theirs.id })).nodes.map((n) => n.id)).toEqual([theirs.id]);
    expect(await codeOf(api.as('umbrella').generations.lineage({ id: a.id }))).toBe('NOT_FOUND');
  });
});
