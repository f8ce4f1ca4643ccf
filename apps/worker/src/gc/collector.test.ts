import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3Server } from '@oneflow/devstack';
import { CheckpointOwners, generationCheckpoints, RetentionRecords, type Link } from '@oneflow/engine';
import { LocalBlobStore, S3BlobStore, type BlobStore } from '@oneflow/store';
import { CounterEngine } from '../testing/counter-engine.js';
import { collectCheckpoints, RefusedError, type GcOptions, type GenerationRecord, type GenerationSource } from './collector.js';
import { retentionPolicySchema, type RetentionPolicy } from './policy.js';

// The collector's rules on real stores (local directory; one scenario on moto's S3), with the
// CounterEngine's checkpoints (JSON blobs that name their parent) and generations given directly.
const root = mkdtempSync(path.join(tmpdir(), 'oneflow-gc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAY = 86_400_000;
/** Two days from now: every blob written by the test is past a 24 h window and the grace period. */
const later = () => new Date(Date.now() + 2 * DAY);

function linksOf(engine: CounterEngine): { snapshot(id: string): Promise<Link | null> } {
  return { snapshot: (id) => engine.describe(id).catch(() => null) };
}

function sourceOf(gens: GenerationRecord[], onStartedSince?: () => Promise<GenerationRecord[]>): GenerationSource {
  return {
    async *all() {
      yield* gens;
    },
    startedSince: async () => (onStartedSince ? onStartedSince() : []),
  };
}

const policy = (p: Partial<RetentionPolicy> = {}) => retentionPolicySchema.parse({ keepAllHours: 24, keepEvery: 10, ...p });

/** A generation of `total` steps run on the engine, stopped after `upTo` (closed unless `open`). */
async function generation(
  engine: CounterEngine,
  id: string,
  o: { total: number; upTo?: number; seed?: number; tenant?: string; open?: boolean; closedAt?: Date; from?: string; parent?: string },
) {
  let head = o.from
    ? await engine.derive(o.from, { overrides: { seed: o.seed ?? 9 } })
    : await engine.create({ total: o.total, seed: o.seed ?? 1 });
  const rootId = head.checkpointId;
  const ids = new Map<number, string>([[head.step, head.checkpointId]]);
  while (!head.done && head.step < (o.upTo ?? o.total)) {
    head = await engine.advance(head.checkpointId);
    ids.set(head.step, head.checkpointId);
  }
  const record: GenerationRecord = {
    id,
    tenant: o.tenant ?? 'acme',
    open: o.open ?? false,
    closedAt: o.open ? null : (o.closedAt ?? new Date()),
    newestId: head.checkpointId,
    headId: head.checkpointId,
    rootId,
    parentId: o.parent ?? null,
    reads: [],
  };
  return { record, ids, head };
}

async function present(store: BlobStore): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const e of store.list()) out.add(e.id);
  return out;
}

const stepsLeft = (ids: Map<number, string>, have: Set<string>) => [...ids].filter(([, id]) => have.has(id)).map(([s]) => s);

function run(store: BlobStore, engine: CounterEngine, gens: GenerationRecord[], p: RetentionPolicy, extra: Partial<GcOptions> = {}) {
  return collectCheckpoints({ store, links: linksOf(engine), generations: sourceOf(gens), policy: p, now: later, ...extra });
}

function local(): { store: LocalBlobStore; engine: CounterEngine } {
  const store = new LocalBlobStore(mkdtempSync(path.join(root, 's-')));
  return { store, engine: new CounterEngine(store) };
}

describe('checkpoint collector: policy rules', () => {
  it('after the horizon keeps the root, every K-th step and the final checkpoint; the index finds them past the gaps; a re-run changes nothing', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 25 });
    const report = await run(store, engine, [a.record], policy());
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toEqual([0, 10, 20, 25]);
    expect(report.blobs).toMatchObject({ total: 26, kept: 4, reclaimed: 22 });
    expect(report.bytes.reclaimed).toBeGreaterThan(0);
    expect(report.bytes.kept + report.bytes.reclaimed).toBe(report.bytes.total);
    // The walk from the final checkpoint stops at the first gap; the index has the rest.
    const index = await new RetentionRecords(store.records).index('gen-a');
    const found = await generationCheckpoints(linksOf(engine), a.head.checkpointId, a.record.rootId, index);
    expect(found.walked).toHaveLength(1); // the final checkpoint is in the index: no need to walk on
    expect(found.kept.map((k) => k.step)).toEqual([0, 10, 20, 25]);
    const again = await run(store, engine, [a.record], policy());
    expect(again.blobs).toMatchObject({ total: 4, kept: 4, reclaimed: 0 });
    expect(stepsLeft(a.ids, await present(store))).toEqual([0, 10, 20, 25]);
  });

  it('removes the ownership markers of the checkpoints it collects, for the tenant whose generation held them, and only those', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 12, tenant: 'acme' });
    const owners = new CheckpointOwners(store.records);
    await owners.record('acme', a.ids.values());
    const orphan = (await engine.create({ total: 3, seed: 77 })).checkpointId; // a blob of no listed generation
    await owners.record('umbrella', [orphan]);
    const report = await run(store, engine, [a.record], policy({ keepAllHours: 0 }));
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toEqual([0, 10, 12]);
    const marked = async (tenant: string, ids: Iterable<string>) => {
      const out: string[] = [];
      for (const id of ids) if (await owners.owns(tenant, id)) out.push(id);
      return out;
    };
    expect(await marked('acme', a.ids.values())).toEqual([0, 10, 12].map((k) => a.ids.get(k)));
    expect(report.markersForgotten).toBe(10);
    expect(report.blobs.reclaimed).toBe(11); // the orphan's blob went too (past the keep-all time)
    expect(await owners.owns('umbrella', orphan)).toBe(true);
    const dry = await run(store, engine, [a.record], policy({ keepAllHours: 0 }), { dryRun: true });
    expect(dry.markersForgotten).toBe(0);
  });

  it('keeps every step inside the keep-all window; a tenant override applies to that tenant only', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 12, tenant: 'acme' });
    const b = await generation(engine, 'gen-b', { total: 12, seed: 2, tenant: 'lean' });
    const p = policy({ keepAllHours: 24 * 7, tenants: { lean: { keepAllHours: 1, keepEvery: 0 } } });
    await run(store, engine, [a.record, b.record], p);
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toHaveLength(13); // two days old, inside acme's week
    expect(stepsLeft(b.ids, have)).toEqual([0, 12]); // lean: root and final only
    // Nothing at all is deleted inside the grace period, whatever the rules.
    const c = await generation(engine, 'gen-c', { total: 12, seed: 3, tenant: 'lean' });
    const fresh = await collectCheckpoints({
      store,
      links: linksOf(engine),
      generations: sourceOf([c.record]),
      policy: p,
      now: () => new Date(),
    });
    expect(fresh.blobs.reclaimed).toBe(0);
  });

  it('keeps the checkpoint a generation was branched from, and the newest checkpoint of an unfinished one', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 25 });
    const b = await generation(engine, 'gen-b', { total: 25, from: a.ids.get(13)!, upTo: 17, parent: 'gen-a' }); // canceled at 17
    await run(store, engine, [a.record, b.record], policy());
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toEqual([0, 10, 13, 20, 25]);
    // The branch point is in the source generation's index: readers find step 13 past the gaps.
    const index = await new RetentionRecords(store.records).index('gen-a');
    expect(index!.kept.map((k) => k.step)).toEqual([0, 10, 13, 20, 25]);
    expect(stepsLeft(b.ids, have)).toEqual([13, 17]); // its root (at the branch step) and its newest
  });

  it('keeps the whole chain of an open generation and what a queued branch will read', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 30, upTo: 14, open: true });
    const done = await generation(engine, 'gen-done', { total: 25, seed: 4 });
    const queued: GenerationRecord = {
      id: 'gen-q',
      tenant: 'acme',
      open: true,
      closedAt: null,
      newestId: null,
      headId: null,
      rootId: null,
      parentId: null,
      reads: [{ checkpointId: done.head.checkpointId, downToStep: 22 }],
    };
    await run(store, engine, [a.record, done.record, queued], policy());
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toHaveLength(15);
    expect(stepsLeft(done.ids, have)).toEqual([0, 10, 20, 22, 23, 24, 25]);
  });

  it('expires a finished generation whole after its tenant’s time, except its pinned steps', async () => {
    const { store, engine } = local();
    const old = await generation(engine, 'gen-old', { total: 25, closedAt: new Date(Date.now() - 10 * DAY) });
    const recent = await generation(engine, 'gen-new', { total: 25, seed: 5 });
    const records = new RetentionRecords(store.records);
    await records.pin({ tenant: 'acme', generationId: 'gen-old', step: 7, checkpointId: old.ids.get(7)! });
    const report = await run(store, engine, [old.record, recent.record], policy({ expireFinishedAfterDays: 7 }));
    expect(report.expiredGenerations).toBe(1);
    const have = await present(store);
    expect(stepsLeft(old.ids, have)).toEqual([7]);
    expect(stepsLeft(recent.ids, have)).toEqual([0, 10, 20, 25]);
  });

  it('pins keep a step until unpinned, also a pin made while the sweep runs', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 25 });
    const records = new RetentionRecords(store.records);
    await records.pin({ tenant: 'acme', generationId: 'gen-a', step: 3, checkpointId: a.ids.get(3)! });
    // A pin on step 17 lands after the mark, before the first deletion batch.
    let pinned = false;
    await collectCheckpoints({
      store,
      links: linksOf(engine),
      policy: policy(),
      now: later,
      batchSize: 1,
      generations: sourceOf([a.record], async () => {
        if (!pinned) await records.pin({ tenant: 'acme', generationId: 'gen-a', step: 17, checkpointId: a.ids.get(17)! });
        pinned = true;
        return [];
      }),
    });
    expect(stepsLeft(a.ids, await present(store))).toEqual([0, 3, 10, 17, 20, 25]);
    expect(await records.unpin('acme', 'gen-a', 3)).toBe(true);
    await run(store, engine, [a.record], policy());
    expect(stepsLeft(a.ids, await present(store))).toEqual([0, 10, 17, 20, 25]);
  });

  it('refuses to sweep a store with old blobs when Temporal lists no generation (a wrong namespace)', async () => {
    const { store, engine } = local();
    await generation(engine, 'gen-a', { total: 5 });
    await expect(run(store, engine, [], policy())).rejects.toBeInstanceOf(RefusedError);
    expect((await present(store)).size).toBe(6);
  });
});

describe('checkpoint collector: safety', () => {
  it('an interrupted sweep leaves every kept checkpoint readable, and a re-run finishes the job', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 25 });
    const b = await generation(engine, 'gen-b', { total: 25, from: a.ids.get(13)!, seed: 8 });
    let deletes = 0;
    const failing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      delete: async (id: string, o?: { unlessModifiedSince?: Date }) => {
        if (++deletes > 9) throw new Error('killed mid-sweep');
        return store.delete(id, o);
      },
    });
    await expect(run(failing, engine, [a.record, b.record], policy(), { batchSize: 4 })).rejects.toThrow('killed mid-sweep');
    // Consistent: every checkpoint the policy keeps is there, and each generation's are found.
    const records = new RetentionRecords(store.records);
    for (const g of [a, b]) {
      const found = await generationCheckpoints(linksOf(engine), g.head.checkpointId, g.record.rootId, await records.index(g.record.id));
      for (const k of found.kept) expect(await engine.describe(k.checkpointId)).toMatchObject({ step: k.step });
    }
    const rerun = await run(store, engine, [a.record, b.record], policy());
    expect(rerun.blobs.reclaimed).toBe(39 - 9 - 8); // 26 + 13 blobs; 9 went in the first run; 8 stay
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toEqual([0, 10, 13, 20, 25]);
    expect(stepsLeft(b.ids, have)).toEqual([13, 20, 25]);
  });

  it('a blob stored again after the mark (a writer producing the same content) is not deleted', async () => {
    const { store, engine } = local();
    const a = await generation(engine, 'gen-a', { total: 12 });
    const victim = a.ids.get(5)!;
    const content = await store.get(victim);
    const racing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      delete: async (id: string, o?: { unlessModifiedSince?: Date }) => {
        if (id === victim) await store.put(content); // the writer wins the race by a hair
        return store.delete(id, o);
      },
    });
    // Every blob two hours old; the clock is real, so the re-stored one is inside the grace period.
    const dir = fileURLToPath(store.location);
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const id of a.ids.values()) utimesSync(path.join(dir, id.slice(0, 2), id), twoHoursAgo, twoHoursAgo);
    const report = await collectCheckpoints({
      store: racing,
      links: linksOf(engine),
      generations: sourceOf([a.record]),
      policy: policy({ keepAllHours: 1 }),
    });
    expect(report.blobs.reclaimed).toBe(9); // 13 blobs, 0, 10 and 12 kept by the rules, the victim by its new time
    const have = await present(store);
    expect(have.has(victim)).toBe(true);
    expect(stepsLeft(a.ids, have)).toEqual([0, 5, 10, 12]);
  });
});

describe('checkpoint collector on S3 (moto)', () => {
  let s3: LocalS3Server;
  let store: S3BlobStore;
  beforeAll(async () => {
    s3 = await startLocalS3();
    const client = {
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    };
    const raw = new S3Client(client);
    await raw.send(new CreateBucketCommand({ Bucket: 'oneflow-gc' }));
    raw.destroy();
    store = new S3BlobStore({ bucket: 'oneflow-gc', prefix: 'checkpoints/', compression: 'brotli', client });
  });
  afterAll(async () => {
    store.destroy();
    await s3.stop();
  });

  it('applies the same rules to a bucket, and pins and indexes live beside the blobs', async () => {
    const engine = new CounterEngine(store);
    const a = await generation(engine, 'gen-a', { total: 25 });
    const b = await generation(engine, 'gen-b', { total: 25, from: a.ids.get(13)!, seed: 8 });
    await new RetentionRecords(store.records).pin({ tenant: 'acme', generationId: 'gen-b', step: 16, checkpointId: b.ids.get(16)! });
    const report = await run(store, engine, [a.record, b.record], policy());
    const have = await present(store);
    expect(stepsLeft(a.ids, have)).toEqual([0, 10, 13, 20, 25]);
    expect(stepsLeft(b.ids, have)).toEqual([13, 16, 20, 25]);
    expect(report.blobs).toMatchObject({ total: 39, reclaimed: 30 });
  });
});
