import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { REPO_ROOT } from '@oneflow/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BatchEvent, type Generation, type ProgressEvent } from './index.js';
import { codeOf, KEYS, startStack, type Stack } from './testing/stack.js';

// The SDK over real HTTP against the real stack: the API, a real worker process with the tiny
// ONNX model, the shared Temporal dev server (namespace of this file).
const execFileAsync = promisify(execFile);
let stack: Stack;
const request = { model: 'tiny-model', prompt: 'draw a seven', seed: 1234, steps: 24, guidance: 2, temperature: 0.7 } as const;

beforeAll(async () => {
  stack = await startStack({ address: inject('temporalAddress'), namespace: 'test-api', worker: true });
});
afterAll(async () => {
  await stack?.close();
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const events: T[] = [];
  for await (const e of it) events.push(e);
  return events;
}

/** Polls `fn` until `ok` holds (visibility is eventually consistent). */
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('generations through the SDK', () => {
  let done: Generation;
  let events: ProgressEvent[];

  it('create → watch (every step, in order) → succeeded, with images as PNG', async () => {
    const { acme } = stack;
    const created = await acme.generations.create(request);
    expect(created.id).toMatch(/^gen-/);
    expect(['queued', 'running']).toContain(created.state);
    events = await collect(acme.generations.watch(created.id));
    const last = events.at(-1)!;
    expect(last.state).toBe('succeeded');
    const progress = events.filter((e) => e.state === 'running' || e.state === 'succeeded');
    const steps = [...new Set(progress.map((e) => e.step))];
    expect(steps).toEqual(Array.from({ length: last.step + 1 }, (_, i) => i));
    expect(new Set(events.map((e) => e.id)).size, events.map((e) => `${e.id}@${e.checkpointId?.slice(0, 6)}`).join(' ')).toBe(
      events.length,
    );
    done = await acme.generations.get(created.id);
    expect(done.state).toBe('succeeded');
    expect(done.step).toBe(last.step);
    expect(done.text).toBe(last.text);
    expect(done.text.length).toBeGreaterThan(0);
    expect(done.checkpointId).toMatch(/^[0-9a-f]{64}$/);
    expect(done.images.length).toBe((done.text.match(/<image>/g) ?? []).length);
    if (done.images.length > 0) {
      const png = PNG.sync.read(Buffer.from(await acme.generations.fetchImage(done.images[0]!.url)));
      expect([png.width, png.height]).toEqual([28, 28]);
      expect(done.images[0]!.clock).toBe(1);
    }
  });

  it('resumes a watch exactly after lastEventId (no event lost, none repeated)', async () => {
    const k = Math.floor(events.length / 2);
    const rest = await collect(stack.acme.generations.watch(done.id, { lastEventId: events[k]!.id }));
    expect(rest.map((e) => e.id)).toEqual(events.slice(k + 1).map((e) => e.id));
    expect(rest.map((e) => e.text)).toEqual(events.slice(k + 1).map((e) => e.text));
  });

  it('steps: a finished generation’s every step 0..N, oldest first, paged by nextStep, text and pieces consistent (tRPC and REST)', async () => {
    const { acme } = stack;
    const all = await acme.generations.steps({ id: done.id, limit: 500 });
    expect(all.nextStep).toBeNull();
    expect(all.items.map((s) => s.step)).toEqual(Array.from({ length: done.step + 1 }, (_, i) => i));
    for (const s of all.items) expect(s.pieces.join(''), `step ${s.step}`).toBe(s.text);
    expect(all.items.filter((s) => s.done).map((s) => s.step)).toEqual([done.step]);
    const last = all.items.at(-1)!;
    expect([last.checkpointId, last.text, last.imageClocks]).toEqual([done.checkpointId, done.text, done.images.map((im) => im.clock)]);
    // The same steps the watch reported, checkpoint for checkpoint, step 0 included (a generation
    // seen before its root checkpoint exists is reported queued, so `0.running` still comes).
    const watched = new Map(events.filter((e) => e.checkpointId !== null).map((e) => [e.step, e]));
    for (const s of all.items) {
      const e = watched.get(s.step);
      expect([e?.checkpointId, e?.text, e?.pieces], `step ${s.step}`).toEqual([s.checkpointId, s.text, s.pieces]);
    }
    // Pages of 7 put together are the whole list; fromStep starts a page anywhere.
    const paged: typeof all.items = [];
    for (let from: number | null = 0; from !== null;) {
      const page: typeof all = await acme.generations.steps({ id: done.id, fromStep: from, limit: 7 });
      expect(page.items.length).toBe(Math.min(7, done.step + 1 - from));
      paged.push(...page.items);
      from = page.nextStep;
    }
    expect(paged).toEqual(all.items);
    expect((await acme.generations.steps({ id: done.id, fromStep: 10, limit: 3 })).items.map((s) => s.step)).toEqual([10, 11, 12]);
    expect(await acme.generations.steps({ id: done.id, fromStep: done.step + 1 })).toEqual({ items: [], nextStep: null });
    // REST: the same page; bad input is 400, another tenant 404.
    const rest = (query: string, key: string = KEYS.acme) =>
      fetch(`${stack.api.baseUrl}/api/generations/${done.id}/steps${query}`, { headers: { authorization: `Bearer ${key}` } });
    const ok = await rest('?fromStep=0&limit=500');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(all);
    for (const query of ['?limit=0', '?limit=501', '?fromStep=-1', '?fromStep=two', '?colour=red'])
      expect((await rest(query)).status, query).toBe(400);
    expect((await rest('', KEYS.umbrella)).status).toBe(404);
    expect(await codeOf(stack.umbrella.generations.steps({ id: done.id }))).toBe('NOT_FOUND');
    expect(await codeOf(acme.generations.steps({ id: done.id, limit: 0 }))).toBe('BAD_REQUEST');
    expect(await codeOf(acme.generations.steps({ id: 'gen x' }))).toBe('BAD_REQUEST');
  });

  it('reconnects a dropped watch by itself with lastEventId: no event lost, none repeated', async () => {
    const g = await stack.acme.generations.create({ ...request, steps: 60, seed: 11 });
    const seen: ProgressEvent[] = [];
    let dropped = false;
    for await (const e of stack.acme.generations.watch(g.id)) {
      seen.push(e);
      if (!dropped && e.step >= 3) {
        dropped = true;
        stack.api.dropConnections();
      }
    }
    expect(dropped).toBe(true);
    expect(seen.at(-1)!.state).toBe('succeeded');
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    const steps = [...new Set(seen.filter((e) => e.state !== 'queued').map((e) => e.step))];
    expect(steps).toEqual(Array.from({ length: seen.at(-1)!.step + 1 }, (_, i) => i));
  });

  it('serves per-step previews and answers 404 for a step it never had', async () => {
    const withImage = events.find((e) => e.images.length > 0);
    if (!withImage) return;
    const bytes = await stack.acme.generations.fetchImage(stack.acme.generations.imageUrl(done.id, 0, withImage.step));
    expect(PNG.sync.read(Buffer.from(bytes)).width).toBe(28);
    const res = await fetch(stack.acme.generations.imageUrl(done.id, 0, 99_999), {
      headers: { authorization: 'Bearer sk-acme-0123456789' },
    });
    expect(res.status).toBe(404);
    expect((await fetch(stack.acme.generations.imageUrl(done.id, 0))).status).toBe(401);
  });

  it('idempotent create: concurrent retries make one generation; another request under the same key is a CONFLICT', async () => {
    const key = `retry-${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 5 }, () => stack.acme.generations.create({ ...request, idempotencyKey: key })));
    expect(new Set(results.map((g) => g.id)).size).toBe(1);
    expect(await codeOf(stack.acme.generations.create({ ...request, seed: 7, idempotencyKey: key }))).toBe('CONFLICT');
    // The same key is another tenant's own namespace of keys.
    const other = await stack.umbrella.generations.create({ ...request, idempotencyKey: key });
    expect(other.id).not.toBe(results[0]!.id);
    await Promise.all([stack.acme.generations.wait(results[0]!.id), stack.umbrella.generations.wait(other.id)]);
  });

  it('branches from a step with overrides; lineage shows the tree with the branch point', async () => {
    const branched = await stack.acme.generations.branch({ from: { generationId: done.id, step: 10 }, overrides: { seed: 99 } });
    expect(branched.parentId).toBe(done.id);
    const finished = await stack.acme.generations.wait(branched.id, { timeoutMs: 30_000 });
    expect(finished.state).toBe('succeeded');
    const refined = await stack.acme.generations.refine({
      from: { generationId: done.id },
      op: { op: 'replacePrompt', prompt: 'count from two to five' },
    });
    expect((await stack.acme.generations.wait(refined.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
    const lineage = await eventually(
      () => stack.acme.generations.lineage(branched.id),
      (l) => l.nodes.length >= 3,
    );
    expect(lineage.rootId).toBe(done.id);
    const node = lineage.nodes.find((n) => n.id === branched.id)!;
    expect(node.parentId).toBe(done.id);
    expect(node.branchedFrom?.step).toBe(10);
    expect(lineage.nodes.map((n) => n.id)).toContain(refined.id);
    expect(await codeOf(stack.acme.generations.branch({ from: { generationId: done.id, step: 9999 } }))).toBe('PRECONDITION_FAILED');
    expect(
      await codeOf(stack.acme.generations.refine({ from: { generationId: done.id }, op: { op: 'renoiseImage', image: 200, to: 0.5 } })),
    ).toBe('BAD_REQUEST');
  });

  it('cancels (the newest checkpoint is kept) and resumes to the end', async () => {
    const g = await stack.acme.generations.create({ ...request, steps: 80, seed: 5 });
    await eventually(
      () => stack.acme.generations.get(g.id),
      (v) => v.step >= 2,
    );
    const canceling = await stack.acme.generations.cancel(g.id);
    expect(canceling.id).toBe(g.id);
    const canceled = await stack.acme.generations.wait(g.id, { timeoutMs: 20_000 });
    expect(canceled.state).toBe('canceled');
    expect(canceled.step).toBeGreaterThanOrEqual(2);
    expect(await codeOf(stack.acme.generations.cancel(g.id))).toBe('PRECONDITION_FAILED');
    const resumed = await stack.acme.generations.resume(g.id);
    expect(resumed.step).toBeGreaterThanOrEqual(canceled.step);
    const events = await collect(stack.acme.generations.watch(g.id, { lastEventId: `${canceled.step}.canceled` }));
    expect(events[0]!.step).toBeGreaterThanOrEqual(canceled.step);
    const final = events.at(-1)!;
    expect(final.state).toBe('succeeded');
    const steps = events.filter((e) => e.step > canceled.step).map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => canceled.step + 1 + i));
    expect(await codeOf(stack.acme.generations.resume(g.id))).toBe('PRECONDITION_FAILED');
  }, 60_000);

  it('lists a resumed generation once, with its current state (not its earlier canceled run)', async () => {
    const { acme } = stack;
    const g = await acme.generations.create({ ...request, steps: 60, seed: 21 });
    await eventually(
      () => acme.generations.get(g.id),
      (v) => v.step >= 1,
    );
    await acme.generations.cancel(g.id);
    expect((await acme.generations.wait(g.id, { timeoutMs: 20_000 })).state).toBe('canceled');
    const listed = (state?: 'canceled' | 'succeeded') =>
      acme.generations.list({ limit: 100, ...(state ? { state } : {}) }).then((p) => p.items.filter((i) => i.id === g.id));
    expect(
      await eventually(
        () => listed('canceled'),
        (v) => v.length === 1,
      ),
    ).toHaveLength(1);
    await acme.generations.resume(g.id);
    expect((await acme.generations.wait(g.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
    const succeeded = await eventually(
      () => listed('succeeded'),
      (v) => v.length === 1,
    );
    expect(succeeded.map((i) => i.state)).toEqual(['succeeded']);
    expect(await listed('canceled')).toEqual([]);
    expect((await listed()).map((i) => i.state)).toEqual(['succeeded']);
  }, 60_000);

  it('expires a generation whose deadline passes, and resumes it', async () => {
    const g = await stack.acme.generations.create({ ...request, steps: 300, seed: 8, deadlineSeconds: 2 });
    const expired = await stack.acme.generations.wait(g.id, { timeoutMs: 20_000 });
    expect(expired.state).toBe('expired');
    expect(expired.error).toMatch(/deadline/);
    expect(
      (
        await eventually(
          () => stack.acme.generations.list({ state: 'expired' }),
          (p) => p.items.some((i) => i.id === g.id),
        )
      ).items.map((i) => i.id),
    ).toContain(g.id);
    if (expired.checkpointId) {
      const resumed = await stack.acme.generations.resume(g.id);
      expect(['queued', 'running']).toContain(resumed.state);
      await stack.acme.generations.cancel(g.id);
      expect((await stack.acme.generations.wait(g.id, { timeoutMs: 20_000 })).state).toBe('canceled');
    }
  }, 40_000);

  it('runs a batch; its items are generations of the tenant, listed by batch', async () => {
    const batch = await stack.acme.batches.create({
      items: [request, { ...request, seed: 1 }, { ...request, prompt: 'count from two to five', seed: 2 }],
      concurrency: 2,
    });
    expect(batch.items).toHaveLength(3);
    const views: BatchEvent[] = [];
    for await (const v of stack.acme.batches.watch(batch.id)) views.push(v);
    expect(views.at(-1)!.state).toBe('succeeded');
    expect(new Set(views.map((v) => v.eventId)).size).toBe(views.length);
    const finishedCounts = views.map((v) => v.counts.succeeded);
    expect(finishedCounts).toEqual([...finishedCounts].sort((a, b) => a - b));
    const finished = await stack.acme.batches.wait(batch.id, { timeoutMs: 40_000 });
    expect(finished.state).toBe('succeeded');
    expect(finished.counts.succeeded).toBe(3);
    const item = await stack.acme.generations.get(finished.items[0]!.id);
    expect(item.state).toBe('succeeded');
    expect(item.batchId).toBe(batch.id);
    const listed = await eventually(
      () => stack.acme.generations.list({ batchId: batch.id }),
      (p) => p.items.length === 3,
    );
    expect(listed.items.map((i) => i.id).sort()).toEqual(finished.items.map((i) => i.id).sort());
    const batches = await eventually(
      () => stack.acme.batches.list({ state: 'succeeded' }),
      (p) => p.items.some((b) => b.id === batch.id),
    );
    expect(batches.items.map((b) => b.id)).toContain(batch.id);
    expect(await codeOf(stack.umbrella.batches.get(batch.id))).toBe('NOT_FOUND');
    expect(await codeOf(stack.umbrella.batches.cancel(batch.id))).toBe('NOT_FOUND');
    expect(await codeOf(collect(stack.umbrella.batches.watch(batch.id)))).toBe('NOT_FOUND');
    expect(await codeOf(stack.umbrella.generations.get(finished.items[0]!.id))).toBe('NOT_FOUND');
    expect(await codeOf(stack.acme.batches.cancel(batch.id))).toBe('PRECONDITION_FAILED');
    expect((await stack.umbrella.batches.list({ limit: 100 })).items.map((b) => b.id)).not.toContain(batch.id);
    expect((await stack.umbrella.generations.list({ batchId: batch.id })).items).toEqual([]);
  }, 60_000);

  it('pages through the list with cursors and filters by state', async () => {
    const first = await eventually(
      () => stack.acme.generations.list({ limit: 2, state: 'succeeded' }),
      (p) => p.nextCursor !== null,
    );
    expect(first.items).toHaveLength(2);
    expect(first.items.every((i) => i.state === 'succeeded')).toBe(true);
    const second = await stack.acme.generations.list({ limit: 2, state: 'succeeded', cursor: first.nextCursor! });
    expect(second.items.length).toBeGreaterThan(0);
    expect(second.items.map((i) => i.id)).not.toContain(first.items[0]!.id);
    expect(await codeOf(stack.acme.generations.list({ cursor: 'bm90LWEtdG9rZW4' }))).toBe('BAD_REQUEST');
    const forged = Buffer.from(JSON.stringify({ RunID: 5, StartTime: 'yesterday' })).toString('base64url');
    expect(await codeOf(stack.acme.generations.list({ cursor: forged }))).toBe('BAD_REQUEST');
  });

  it('isolates tenants: another tenant sees NOT_FOUND everywhere', async () => {
    const u = stack.umbrella;
    expect(await codeOf(u.generations.get(done.id))).toBe('NOT_FOUND');
    expect(await codeOf(u.generations.cancel(done.id))).toBe('NOT_FOUND');
    expect(await codeOf(u.generations.resume(done.id))).toBe('NOT_FOUND');
    expect(await codeOf(u.generations.branch({ from: { generationId: done.id, step: 3 } }))).toBe('NOT_FOUND');
    expect(
      await codeOf(u.generations.refine({ from: { generationId: done.id }, op: { op: 'replacePrompt', prompt: 'draw a seven' } })),
    ).toBe('NOT_FOUND');
    expect(await codeOf(u.generations.lineage(done.id))).toBe('NOT_FOUND');
    expect(await codeOf(collect(u.generations.watch(done.id)))).toBe('NOT_FOUND');
    const img = await fetch(u.generations.imageUrl(done.id, 0), { headers: { authorization: 'Bearer sk-umbrella-9876543210' } });
    expect(img.status).toBe(404);
    const theirs = await u.generations.list({ limit: 100 });
    expect(theirs.items.map((i) => i.id)).not.toContain(done.id);
    expect(await codeOf(stack.anonymous.generations.get(done.id))).toBe('UNAUTHORIZED');
  });

  it('runs the SDK example end to end (progress lines, images saved)', async () => {
    const out = path.join(stack.dataDir, 'example-out');
    // Not spawnSync: the API under test runs in this process and must keep answering.
    const run = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'packages/sdk/src/examples/generate.ts', 'draw', 'a', 'seven', '--seed', '3', '--out', out],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ONEFLOW_API_URL: stack.api.baseUrl, ONEFLOW_API_KEY: KEYS.acme },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    const lines = run.stdout.trim().split('\n');
    // `step N/?` while queued (no checkpoint yet), `step N/M` after.
    const progress = lines
      .map((l) => /^step (\d+)\/(\d+) /.exec(l))
      .filter((m) => m !== null)
      .map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(progress.length).toBeGreaterThan(3);
    // step/steps: the expected last step, never behind the step counter (it printed `step 60/32`).
    for (const [step, steps] of progress) expect(step, lines.join('\n')).toBeLessThanOrEqual(steps);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    const summary = JSON.parse(lines.at(-1)!) as { state: string; text: string; images: string[] };
    expect(summary.state).toBe('succeeded');
    expect(summary.images.length).toBe((summary.text.match(/<image>/g) ?? []).length);
    for (const file of summary.images) expect(PNG.sync.read(readFileSync(file)).width).toBe(28);
  });

  it('lists the models from their config.json', async () => {
    const models = await stack.acme.models.list();
    expect(models.map((m) => m.name)).toEqual(['tiny-model']);
    expect(models[0]!.latentShape).toEqual([1, 28, 28]);
    expect(models[0]!.vocabulary).toContain('seven');
    const cfg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'packages/sampler/fixtures/tiny-model/config.json'), 'utf8')) as {
      sampler_defaults: { w: number; w_image: number };
    };
    expect(models[0]!.defaults).toMatchObject({ guidance: cfg.sampler_defaults.w, imageGuidance: cfg.sampler_defaults.w_image });
  });
});
