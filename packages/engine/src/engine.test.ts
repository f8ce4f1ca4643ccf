import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointIdOf, encodeCheckpoint } from '@oneflow/sampler';
import { LocalBlobStore } from '@oneflow/store';
import { ancestorAt, CheckpointReader, CheckpointStore, remainingSteps, summarize, type Snapshot } from './checkpoints.js';
import { InvalidInputError } from './errors.js';
import { prepareDerived, prepareNew } from './prepare.js';
import { SamplerEngine } from './sampler-engine.js';
import { toyModel, withGenerated } from './testing.js';

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const models = new Map([['toy', toyModel]]);
const blobs = new LocalBlobStore(dir, { idOf: checkpointIdOf });
const readable = new Map([['toy', { ...toyModel, pngOf: async (_key: string, latent: Float32Array) => Buffer.from(latent.buffer) }]]);
const reader = new CheckpointReader(new CheckpointStore(blobs), readable);

describe('remainingSteps (the `steps` a snapshot reports is step + this)', () => {
  const params = { steps: 32 };
  it('is what the slowest clock still needs, at 1/steps per step', () => {
    expect(remainingSteps({ params, tText: 0, images: [] })).toBe(32);
    expect(remainingSteps({ params, tText: 0.5, images: [] })).toBe(16);
    // Text done at step 32, an image inserted at step 30 still needs 30 steps: it ends at step 62, not 32.
    expect(remainingSteps({ params, tText: 1, images: [{ t: 1 }, { t: 2 / 32 }] })).toBe(30);
    expect(remainingSteps({ params, tText: 1, images: [{ t: 1 }] })).toBe(0);
  });
  it('does not count a clock a rounding error short of 1 as a step', () => {
    let t = 0;
    for (let i = 0; i < 32; i++) t += 1 / 32;
    expect(remainingSteps({ params, tText: t, images: [] })).toBe(0);
  });
});

describe('preparing states (shared by the engine and the API’s dry runs)', () => {
  it('makes the root state of a request, settings from the model’s defaults', async () => {
    const { state, model } = await prepareNew(models, { model: 'toy', prompt: 'draw a seven', seed: 5, steps: 8 });
    expect(model).toBe(toyModel);
    expect(state.tokens).toEqual([1, 4, 5, 6, 2]);
    expect(state.params).toEqual({ ...toyModel.config.defaults, steps: 8 });
    expect(state.seed).toBe(5);
  });

  it('refuses bad input with one error class, InvalidInputError, whose message says why', async () => {
    const refusal = async (f: () => unknown) => {
      try {
        await f();
      } catch (error) {
        return error instanceof InvalidInputError ? error.message : `not an InvalidInputError: ${String(error)}`;
      }
      return 'accepted';
    };
    expect(await refusal(() => prepareNew(models, { model: 'nope', prompt: 'x' }))).toBe('unknown model "nope"; models: toy');
    expect(await refusal(() => prepareNew(models, { model: 'toy', prompt: 'draw a cat' }))).toMatch(
      /"cat" is not in the model's vocabulary/,
    );
    expect(await refusal(() => prepareNew(models, { model: 'toy', prompt: 'draw', steps: 0 }))).toMatch(
      /^invalid generation request: steps/,
    );
    expect(await refusal(() => prepareNew(models, { model: 'toy', prompt: 'draw', images: ['bm90IGEgcG5n'] }))).toMatch(/^images\.0: /);
    const root = (await prepareNew(models, { model: 'toy', prompt: 'draw a seven' })).state;
    const grown = withGenerated(root, [6, 7], 0.5, 2);
    const checkpoint = { id: 'c'.repeat(64), state: grown };
    expect(
      await refusal(() => prepareDerived(models, checkpoint, { refine: { op: 'deleteText', start: 1, end: 3, reopenTo: 0 } })),
    ).toMatch(/of the 2 generated tokens \[0, 2\)/);
    expect(await refusal(() => prepareDerived(models, checkpoint, { refine: { op: 'renoiseImage', image: 0, to: 0.5 } }))).toMatch(
      /out of range/,
    );
    expect(await refusal(() => prepareDerived(models, checkpoint, { refine: { op: 'replacePrompt', prompt: 'draw a dog' } }))).toMatch(
      /"dog"/,
    );
    const reshaped = { ...grown, spec: { ...grown.spec, latentShape: [4, 4, 4] as const } };
    expect(await refusal(() => prepareDerived(models, { id: checkpoint.id, state: reshaped }, {}))).toMatch(
      /has latents \[4, 4, 4\]; toy here has \[1, 2, 2\]/,
    );
    const other = { ...grown, spec: { ...grown.spec, sha256: 'b'.repeat(64) } };
    expect(await refusal(() => prepareDerived(models, { id: checkpoint.id, state: other }, {}))).toMatch(
      /made with toy sha256 b+; this server has a+/,
    );
    expect(prepareDerived(models, checkpoint, { refine: { op: 'deleteText', start: 0, end: 1, reopenTo: 0.25 } }).state.tokens).toEqual([
      1, 4, 5, 6, 2, 7,
    ]);
  });

  it('passes other errors through: a fault of ours is not bad input', async () => {
    const broken = {
      ...toyModel,
      tokenizer: {
        ...toyModel.tokenizer,
        prompt: () => {
          throw new TypeError('boom');
        },
      },
    };
    await expect(prepareNew(new Map([['toy', broken as unknown as typeof toyModel]]), { model: 'toy', prompt: 'draw' })).rejects.toThrow(
      TypeError,
    );
  });
});

describe('the read side: snapshots, chains, dry runs', () => {
  it('summarizes a checkpoint with the generated tokens’ pieces (they concatenate to the text)', async () => {
    const root = (await prepareNew(models, { model: 'toy', prompt: 'draw a seven' })).state;
    const s = summarize({ id: 'x', parent: null, state: withGenerated(root, [6, 3, 7], 0.5, 2) }, toyModel.tokenizer);
    expect(s).toMatchObject({ step: 2, steps: 4, text: 'seven <image> two', pieces: ['seven', ' <image>', ' two'], done: false });
    expect(s.pieces.join('')).toBe(s.text);
    expect(summarize({ id: 'x', parent: null, state: root }, undefined)).toMatchObject({ text: '', pieces: [] });
  });

  it('walks a chain oldest first, one checkpoint per step, and finds the ancestor at a step', async () => {
    const root = (await prepareNew(models, { model: 'toy', prompt: 'draw a seven' })).state;
    const ids: string[] = [];
    let parent: string | null = null;
    for (const [step, tokens] of [
      [0, []],
      [1, [6]],
      [2, [6, 7]],
      [3, [6, 7, 6]],
    ] as const) {
      const { id, bytes } = encodeCheckpoint({ state: withGenerated(root, [...tokens], step / 4, step), parent });
      expect(await blobs.put(bytes)).toBe(id);
      ids.push(id);
      parent = id;
    }
    const chain = await reader.chain(ids[3]!, 1);
    expect(chain.map((s: Snapshot) => [s.step, s.checkpointId])).toEqual([
      [1, ids[1]],
      [2, ids[2]],
      [3, ids[3]],
    ]);
    expect((await reader.ancestorAt(ids[3]!, 2))?.checkpointId).toBe(ids[2]);
    expect(await reader.ancestorAt(ids[3]!, 9)).toBeNull();
    expect(await ancestorAt({ snapshot: async () => null }, ids[3]!, 0)).toBeNull();
    expect(await reader.snapshot('f'.repeat(64))).toBeNull();
    await expect(reader.validateDerive('f'.repeat(64), {})).rejects.toThrow(InvalidInputError);
    await expect(reader.validateDerive(ids[3]!, { refine: { op: 'deleteText', start: 5, end: 9, reopenTo: 0 } })).rejects.toThrow(
      InvalidInputError,
    );
    expect((await reader.validateDerive(ids[3]!, { overrides: { guidance: 2 } })).checkpointId).toBe(ids[3]);
    await expect(reader.validateRequest({ model: 'toy', prompt: 'draw a dog' })).rejects.toThrow(InvalidInputError);
  });

  it('the engine stores what the dry runs accept, and its summaries are the reader’s snapshots', async () => {
    const engine = new SamplerEngine(
      new Map([['toy', { ...toyModel, runner: { stepOutputs: () => Promise.reject(new Error('no model')) } }]]),
      blobs,
    );
    const created = await engine.create({ model: 'toy', prompt: 'draw a seven', seed: 3 });
    expect(await reader.snapshot(created.checkpointId)).toEqual(created);
    const derived = await engine.derive(created.checkpointId, { overrides: { seed: 9 } });
    expect(derived.parentId).toBe(created.checkpointId);
    expect(await engine.describe(derived.checkpointId)).toEqual(await reader.snapshot(derived.checkpointId));
    await expect(engine.create({ model: 'toy', prompt: 'a cat' })).rejects.toThrow(InvalidInputError);
  });
});
