import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckpointSummary, RefineOp, SamplerOverrides } from '@oneflow/contracts';
import type { BlobStore } from '@oneflow/store';
import { InvalidInputError, type GenerationEngine } from '../engine.js';

/**
 * A deterministic stand-in for the model side, for orchestration tests: each step appends one
 * word chosen by a hash of (seed, step), and its state is a JSON checkpoint in a real blob store.
 * Same checkpoint + same seed ⇒ same continuation, like the sampler.
 */
interface CounterCheckpoint {
  v: 1;
  parent: string | null;
  total: number;
  seed: number;
  step: number;
  words: string[];
}

const WORDS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', '<image>'];

export class CounterEngine implements GenerationEngine {
  /** Number of `advance` calls, to show a resumed activity does not redo steps. */
  advanceCalls = 0;
  /** Milliseconds each step takes (to give tests time to query, cancel or crash mid-run). */
  stepDelayMs: number;
  /** Throw a transient error once when about to run this step (a worker dying mid-activity). */
  failOnceAtStep: number | null = null;

  constructor(
    private readonly store: BlobStore,
    options: { stepDelayMs?: number } = {},
  ) {
    this.stepDelayMs = options.stepDelayMs ?? 0;
  }

  private async load(id: string): Promise<CounterCheckpoint> {
    return JSON.parse(new TextDecoder().decode(await this.store.get(id))) as CounterCheckpoint;
  }

  private async save(c: CounterCheckpoint, durable = true): Promise<CheckpointSummary> {
    const id = await this.store.put(new TextEncoder().encode(JSON.stringify(c)), { durable });
    return summarize(id, c);
  }

  async create(request: unknown): Promise<CheckpointSummary> {
    const r = request as { total?: unknown; seed?: unknown };
    if (typeof r !== 'object' || r === null || !Number.isInteger(r.total) || (r.total as number) < 1 || (r.total as number) > 10_000) {
      throw new InvalidInputError(`counter request needs an integer total in [1, 10000], got ${JSON.stringify(request)}`);
    }
    return this.save({ v: 1, parent: null, total: r.total as number, seed: Number(r.seed ?? 0), step: 0, words: [] });
  }

  async derive(checkpointId: string, change: { overrides?: SamplerOverrides; refine?: RefineOp }): Promise<CheckpointSummary> {
    const c = await this.load(checkpointId);
    let words = c.words;
    if (change.refine?.op === 'deleteText') words = [...words.slice(0, change.refine.start), ...words.slice(change.refine.end)];
    else if (change.refine) throw new InvalidInputError(`counter engine cannot ${change.refine.op}`);
    return this.save({
      ...c,
      parent: checkpointId,
      seed: change.overrides?.seed ?? c.seed,
      total: change.overrides?.steps ?? c.total,
      words,
      step: Math.min(c.step, words.length),
    });
  }

  async advance(checkpointId: string): Promise<CheckpointSummary> {
    this.advanceCalls++;
    const c = await this.load(checkpointId);
    if (this.stepDelayMs > 0) await sleep(this.stepDelayMs);
    if (this.failOnceAtStep === c.step + 1) {
      this.failOnceAtStep = null;
      throw new Error(`injected transient failure before step ${c.step + 1}`);
    }
    const digest = createHash('sha256').update(`${c.seed}:${c.step}`).digest();
    const word = WORDS[digest[0]! % WORDS.length]!;
    return this.save({ ...c, parent: checkpointId, step: c.step + 1, words: [...c.words, word] }, false);
  }

  persist(checkpointId: string): Promise<void> {
    return this.store.persist(checkpointId);
  }

  async describe(checkpointId: string): Promise<CheckpointSummary> {
    return summarize(checkpointId, await this.load(checkpointId));
  }

  /** The chain of checkpoints from `checkpointId` back to its root (newest first). */
  async ancestry(checkpointId: string): Promise<CounterCheckpoint[]> {
    const chain: CounterCheckpoint[] = [];
    for (let id: string | null = checkpointId; id !== null;) {
      const c: CounterCheckpoint = await this.load(id);
      chain.push(c);
      id = c.parent;
    }
    return chain;
  }
}

function summarize(checkpointId: string, c: CounterCheckpoint): CheckpointSummary {
  const done = c.step >= c.total;
  return {
    checkpointId,
    parentId: c.parent,
    model: 'counter',
    step: c.step,
    steps: Math.max(c.step, c.total),
    done,
    tText: Math.min(1, c.step / c.total),
    text: c.words.join(' '),
    pieces: c.words.map((w, i) => (i === 0 ? w : ` ${w}`)),
    imageClocks: c.words.filter((w) => w === '<image>').map(() => 1),
  };
}
