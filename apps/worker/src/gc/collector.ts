import { CheckpointOwners, generationCheckpoints, RetentionRecords, type GenerationIndex, type Link } from '@oneflow/engine';
import type { BlobEntry, BlobStore } from '@oneflow/store';
import type { Logger } from 'pino';
import { rulesFor, type RetentionPolicy } from './policy.js';

/** One generation as the collector sees it (its current run). */
export interface GenerationRecord {
  id: string;
  tenant: string | null;
  /** A run is open (running or queued): everything on its chain is kept. */
  open: boolean;
  closedAt: Date | null;
  /** The newest checkpoint: the step in flight (heartbeat) while it runs, else the memo's newest. */
  newestId: string | null;
  /** The memo's newest durable checkpoint (the head; differs from `newestId` while a step is in flight). */
  headId: string | null;
  /** The generation's root across resumes. */
  rootId: string | null;
  /** The generation it was branched from (its root's parent is a checkpoint of that one). */
  parentId: string | null;
  /** Checkpoints a run that has no root yet will read: its branch base (`downToStep`: the chain down to that step). */
  reads: { checkpointId: string; downToStep?: number }[];
}

/** Where the collector learns which generations exist (Temporal's visibility in the worker). */
export interface GenerationSource {
  /** Every generation of the namespace, once each. */
  all(): AsyncIterable<GenerationRecord>;
  /** Generations whose current run started at or after `t` (the re-check before each deletion batch). */
  startedSince(t: Date): Promise<GenerationRecord[]>;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  ms: number;
  generations: number;
  expiredGenerations: number;
  pins: number;
  blobs: { total: number; kept: number; reclaimed: number; young: number };
  bytes: { total: number; kept: number; reclaimed: number };
  indexesWritten: number;
  /** Ownership markers removed with their collected checkpoints. */
  markersForgotten: number;
}

export interface GcOptions {
  store: BlobStore;
  /** Parent links of checkpoints (null when the store does not have one). */
  links: { snapshot(id: string): Promise<Link | null> };
  generations: GenerationSource;
  policy: RetentionPolicy;
  dryRun?: boolean;
  logger?: Logger;
  now?: () => Date;
  /** Deletions between two re-checks of pins and new generations. */
  batchSize?: number;
  /** Called after each batch (the activity heartbeats here). */
  onProgress?: (done: { deleted: number; candidates: number }) => void;
  /** Refuse to sweep when Temporal lists no generation at all but the store holds old blobs (a wrong namespace). */
  allowNoGenerations?: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export class RefusedError extends Error {
  override readonly name = 'RefusedError';
}

/**
 * Mark and sweep: 1. list the store; 2. mark what the policy keeps of every generation (walk +
 * retention index), what open runs read, pins; 3. write the index of every generation that loses
 * checkpoints; 4. delete unmarked blobs older than the grace period, in batches, re-reading pins
 * and generations started since the mark before each batch; 5. remove the ownership markers of the
 * deleted blobs (for the tenants whose generations held them). Deleting only unmarked blobs and
 * writing indexes first makes any interruption safe: a re-run finishes the job.
 */
export async function collectCheckpoints(o: GcOptions): Promise<GcReport> {
  const now = o.now ?? (() => new Date());
  const t0 = now();
  // Generations started since a minute before the mark are re-read before each deletion batch
  // (wall-clock time, as Temporal's start times are; `now` is the policy's clock).
  const fence = new Date(Date.now() - 60_000);
  const dryRun = o.dryRun ?? false;
  const records = new RetentionRecords(o.store.records);
  const graceCutoff = new Date(t0.getTime() - o.policy.graceMinutes * 60_000);

  // 1. the store
  const listing = new Map<string, BlobEntry>();
  for await (const e of o.store.list()) listing.set(e.id, e);
  const ageMs = (id: string) => {
    const e = listing.get(id);
    return e ? t0.getTime() - e.modifiedAt.getTime() : 0; // written after the listing: young
  };

  // 2. mark
  const marked = new Set<string>();
  const members = new Set<string>();
  let pins = await records.pins();
  const pinnedIds = new Set(pins.map((p) => p.checkpointId));
  const pinnedSteps = new Set(pins.map((p) => `${p.generationId}\u0000${p.step}`));
  for (const id of pinnedIds) marked.add(id);

  const gens: GenerationRecord[] = [];
  for await (const g of o.generations.all()) gens.push(g);
  if (gens.length === 0 && !o.allowNoGenerations && [...listing.values()].some((e) => e.modifiedAt < graceCutoff))
    throw new RefusedError(
      `Temporal lists no generation, but ${o.store.location} holds ${listing.size} blobs: wrong namespace? (allowNoGenerations to sweep anyway)`,
    );

  const branchPoints = new Map<string, Link[]>();
  /** What an open or new run reads: its newest, head, root, the root's branch point, a queued branch's base. */
  const markRun = async (g: GenerationRecord): Promise<void> => {
    for (const id of [g.newestId, g.headId, g.rootId]) if (id) marked.add(id);
    if (g.rootId) {
      const root = await o.links.snapshot(g.rootId);
      if (root?.parentId) {
        marked.add(root.parentId);
        // Also into the parent generation's index, so its readers find the step past any gap.
        const point = g.parentId ? await o.links.snapshot(root.parentId) : null;
        if (point && g.parentId) branchPoints.set(g.parentId, [...(branchPoints.get(g.parentId) ?? []), point]);
      }
    }
    for (const r of g.reads) {
      marked.add(r.checkpointId);
      if (r.downToStep === undefined) continue;
      for (let id: string | null = r.checkpointId; id !== null;) {
        const s: Link | null = await o.links.snapshot(id);
        if (!s || s.step < r.downToStep) break;
        marked.add(id);
        id = s.parentId;
      }
    }
  };

  // What runs read and what generations were branched from first, so each walk below sees them.
  const expired = new Set<string>();
  for (const g of gens) {
    const days = rulesFor(o.policy, g.tenant).expireFinishedAfterDays;
    if (!g.open && g.closedAt !== null && days !== null && t0.getTime() - g.closedAt.getTime() > days * DAY) expired.add(g.id);
    else await markRun(g);
  }
  const indexes: { index: GenerationIndex; chain: string[]; before: GenerationIndex | null }[] = [];
  /** The tenants whose generations hold each checkpoint: whose ownership markers go with it. */
  const tenantsOf = new Map<string, Set<string>>();
  for (const g of gens) {
    const rules = rulesFor(o.policy, g.tenant);
    const before = await records.index(g.id);
    let newest = g.newestId;
    if (newest && !(await o.links.snapshot(newest))) newest = g.headId; // a heartbeat checkpoint lost with its machine
    const { kept: walked } = await generationCheckpoints(o.links, newest, g.rootId, before);
    const chain = [...walked];
    for (const p of branchPoints.get(g.id) ?? [])
      if (!chain.some((c) => c.checkpointId === p.checkpointId)) chain.push({ step: p.step, checkpointId: p.checkpointId });
    chain.sort((x, y) => x.step - y.step);
    const keep = chain.filter((c) => {
      members.add(c.checkpointId);
      if (g.tenant !== null) tenantsOf.set(c.checkpointId, (tenantsOf.get(c.checkpointId) ?? new Set()).add(g.tenant));
      if (pinnedIds.has(c.checkpointId) || pinnedSteps.has(`${g.id}\u0000${c.step}`)) return true;
      if (expired.has(g.id)) return false;
      return (
        g.open ||
        marked.has(c.checkpointId) ||
        (rules.keepEvery > 0 && c.step % rules.keepEvery === 0) ||
        ageMs(c.checkpointId) < rules.keepAllHours * HOUR
      );
    });
    for (const c of keep) marked.add(c.checkpointId);
    indexes.push({
      index: { v: 1, generationId: g.id, tenant: g.tenant, kept: keep, sweptAt: t0.toISOString() },
      chain: chain.map((c) => c.checkpointId),
      before,
    });
  }

  // Blobs of no listed generation (written outside Temporal, or of generations it no longer has)
  // are kept for the deployment's keep-all time; every other unmarked one after the grace period.
  const orphanCutoff = new Date(Math.min(graceCutoff.getTime(), t0.getTime() - o.policy.keepAllHours * HOUR));
  let candidates = [...listing.values()].filter(
    (e) => !marked.has(e.id) && e.modifiedAt < (members.has(e.id) ? graceCutoff : orphanCutoff),
  );
  const young = listing.size - marked.size - candidates.length + [...marked].filter((id) => !listing.has(id)).length;

  // 3. indexes first: a generation's surviving checkpoints stay findable past the gaps about to be made
  let indexesWritten = 0;
  const doomed = new Set(candidates.map((e) => e.id));
  for (const { index, chain, before } of indexes) {
    const changed = before === null || JSON.stringify(before.kept) !== JSON.stringify(index.kept);
    if (!changed || (before === null && !chain.some((id) => doomed.has(id)))) continue;
    if (!dryRun) await records.putIndex(index);
    indexesWritten++;
  }

  // 4. sweep, re-checking before every batch
  const batchSize = o.batchSize ?? 100;
  let deleted = 0;
  let markersForgotten = 0;
  const owners = new CheckpointOwners(o.store.records);
  let reclaimedBytes = 0;
  const reclaimedIds = new Set<string>();
  if (!dryRun) {
    for (let i = 0; i < candidates.length; i += batchSize) {
      pins = await records.pins();
      for (const p of pins) marked.add(p.checkpointId);
      for (const g of await o.generations.startedSince(fence)) await markRun(g);
      for (const e of candidates.slice(i, i + batchSize)) {
        if (marked.has(e.id)) continue;
        if (await o.store.delete(e.id, { unlessModifiedSince: graceCutoff })) {
          deleted++;
          reclaimedBytes += e.size;
          reclaimedIds.add(e.id);
        }
      }
      o.onProgress?.({ deleted, candidates: candidates.length });
    }
    // 5. the ownership markers of what is gone (a blob of no listed generation keeps its markers:
    // whose they are is not known here, and a marker without its blob grants nothing to branch from)
    for (const id of reclaimedIds) for (const tenant of tenantsOf.get(id) ?? []) if (await owners.forget(tenant, id)) markersForgotten++;
  } else {
    candidates = candidates.filter((e) => !marked.has(e.id));
    for (const e of candidates) {
      deleted++;
      reclaimedBytes += e.size;
      reclaimedIds.add(e.id);
    }
  }

  const totalBytes = [...listing.values()].reduce((n, e) => n + e.size, 0);
  const report: GcReport = {
    dryRun,
    startedAt: t0.toISOString(),
    ms: now().getTime() - t0.getTime(),
    generations: gens.length,
    expiredGenerations: expired.size,
    pins: pins.length,
    blobs: { total: listing.size, kept: listing.size - deleted, reclaimed: deleted, young },
    bytes: { total: totalBytes, kept: totalBytes - reclaimedBytes, reclaimed: reclaimedBytes },
    indexesWritten,
    markersForgotten,
  };
  o.logger?.info(report, dryRun ? 'checkpoint collection (dry run)' : 'checkpoint collection');
  return report;
}
