import type { CheckpointSummary } from '@oneflow/contracts';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, generated, isDone, type SamplerState } from '@oneflow/sampler';
import { BlobNotFoundError, type BlobStore } from '@oneflow/store';
import type { BranchChangeRequest } from './engine.js';
import { InvalidInputError } from './errors.js';
import type { EngineModel, EngineModels, ReadableModel } from './models.js';
import { prepareDerived, prepareNew } from './prepare.js';

/** What one checkpoint shows a user (progress, text so far, the images' clocks): the engine's summary. */
export type Snapshot = CheckpointSummary;

/** A decoded checkpoint. */
export interface StoredCheckpoint {
  id: string;
  state: SamplerState;
  parent: string | null;
}

/** Steps until every clock (text and each image) reaches 1, at `1 / params.steps` per step. */
export function remainingSteps(s: { tText: number; images: readonly { t: number }[]; params: { steps: number } }): number {
  const n = s.params.steps;
  const left = (t: number) => Math.ceil((1 - t) * n - 1e-9);
  return Math.max(0, left(s.tText), ...s.images.map((im) => left(im.t)));
}

/**
 * The summary of a checkpoint. Text and pieces come from the model's tokenizer; without one (a
 * checkpoint of a model not served here) they are empty.
 */
export function summarize(
  checkpoint: StoredCheckpoint,
  tokenizer: Pick<EngineModel['tokenizer'], 'decode' | 'pieces'> | undefined,
): Snapshot {
  const { id, parent, state } = checkpoint;
  const gen = generated(state);
  return {
    checkpointId: id,
    parentId: parent,
    model: state.spec.name,
    step: state.step,
    steps: state.step + remainingSteps(state),
    done: isDone(state),
    tText: state.tText,
    text: tokenizer ? tokenizer.decode(gen.tokens) : '',
    pieces: tokenizer ? tokenizer.pieces(gen.tokens) : [],
    imageClocks: gen.images.map((im) => im.t),
  };
}

/**
 * Checkpoints in a blob store that uses `checkpointIdOf`. Checkpoints are immutable and
 * content-addressed, so decoded ones (read or written here) are kept by id, newest use last.
 */
export class CheckpointStore {
  private readonly cache = new Map<string, StoredCheckpoint>();

  constructor(
    readonly blobs: BlobStore,
    private readonly cacheSize = 256,
  ) {}

  private remember(c: StoredCheckpoint): StoredCheckpoint {
    this.cache.delete(c.id);
    this.cache.set(c.id, c);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return c;
  }

  /** The decoded checkpoint. Throws the store's BlobNotFoundError; a blob that is no checkpoint is InvalidInputError. */
  async get(id: string): Promise<StoredCheckpoint> {
    const hit = this.cache.get(id);
    if (hit) return this.remember(hit);
    const bytes = await this.blobs.get(id);
    try {
      const { state, parent } = decodeCheckpoint(bytes, id);
      return this.remember({ id, state, parent });
    } catch (error) {
      if (error instanceof CheckpointError) throw new InvalidInputError(`checkpoint ${id}: ${error.message}`);
      throw error;
    }
  }

  /** As {@link get}, or null when the store does not have it. */
  async find(id: string): Promise<StoredCheckpoint | null> {
    try {
      return await this.get(id);
    } catch (error) {
      if (error instanceof BlobNotFoundError) return null;
      throw error;
    }
  }

  /** Encodes and stores a state (`durable: false`: see BlobStore.put). */
  async put(state: SamplerState, parent: string | null, durable = true): Promise<StoredCheckpoint> {
    const { id, bytes } = encodeCheckpoint({ state, parent });
    const stored = await this.blobs.put(bytes, { durable });
    if (stored !== id) throw new Error(`store returned id ${stored} for checkpoint ${id}: the store must use checkpointIdOf`);
    return this.remember({ id, state, parent });
  }

  persist(id: string): Promise<void> {
    return this.blobs.persist(id);
  }
}

/** Anything that tells a checkpoint's summary by id (null when it has none). */
export interface SnapshotSource {
  snapshot(id: string): Promise<Snapshot | null>;
}

/**
 * The chain that ends at `headId`, oldest first, down to (and including) the first checkpoint at
 * or below `floorStep`; one checkpoint per step (the nearest wins where a derive made two).
 */
export async function checkpointChain(source: SnapshotSource, headId: string, floorStep: number, limit = 10_000): Promise<Snapshot[]> {
  const out: Snapshot[] = [];
  let id: string | null = headId;
  while (id !== null && out.length < limit) {
    const s = await source.snapshot(id);
    if (!s) break;
    if (out.length === 0 || s.step < out[out.length - 1]!.step) out.push(s);
    if (s.step <= floorStep) break;
    id = s.parentId;
  }
  return out.reverse();
}

/** The checkpoint at `step` on the chain ending at `headId` (following parent links), or null. */
export async function ancestorAt(source: SnapshotSource, headId: string, step: number): Promise<Snapshot | null> {
  const first = (await checkpointChain(source, headId, step))[0];
  return first && first.step === step ? first : null;
}

/**
 * The read side of the engine, for processes that run no model (the API): summaries, chains,
 * images, and dry runs of the engine's `create` / `derive` that store nothing.
 */
export class CheckpointReader implements SnapshotSource {
  constructor(
    private readonly checkpoints: CheckpointStore,
    private readonly models: EngineModels<ReadableModel>,
  ) {}

  /** The decoded checkpoint, or null when the store does not have it. */
  load(id: string): Promise<StoredCheckpoint | null> {
    return this.checkpoints.find(id);
  }

  async snapshot(id: string): Promise<Snapshot | null> {
    const c = await this.checkpoints.find(id);
    return c && summarize(c, this.models.get(c.state.spec.name)?.tokenizer);
  }

  chain(headId: string, floorStep: number, limit?: number): Promise<Snapshot[]> {
    return checkpointChain(this, headId, floorStep, limit);
  }

  ancestorAt(headId: string, step: number): Promise<Snapshot | null> {
    return ancestorAt(this, headId, step);
  }

  /**
   * Generated image `k` of a checkpoint as a PNG (through the model's decoder where it has one,
   * cached by checkpoint id and slot); null when there is no such checkpoint or image, or its
   * model is not served here.
   */
  async png(id: string, k: number): Promise<Buffer | null> {
    const c = await this.checkpoints.find(id);
    const image = c && generated(c.state).images[k];
    const model = c && this.models.get(c.state.spec.name);
    if (!image || !model || model.config.spec.sha256 !== c.state.spec.sha256) return null;
    return model.pngOf(`${id}/${k}`, image.latent);
  }

  /** Refuses (InvalidInputError) a request the engine's `create` would refuse; stores nothing. */
  async validateRequest(request: unknown): Promise<void> {
    await prepareNew(this.models, request);
  }

  /** Refuses (InvalidInputError) a change the engine's `derive` would refuse; the base checkpoint's snapshot otherwise. */
  async validateDerive(checkpointId: string, change: BranchChangeRequest): Promise<Snapshot> {
    const c = await this.checkpoints.find(checkpointId);
    if (!c) throw new InvalidInputError(`checkpoint ${checkpointId} not found`);
    const { model } = prepareDerived(this.models, c, change);
    return summarize(c, model.tokenizer);
  }
}
