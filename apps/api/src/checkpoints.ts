import { applyBranchChange, stateFromSpec, decodeCheckpoint, generated, isDone, latentToPng, type SamplerState } from '@oneflow/sampler';
import type { GenerationRequest, RefineOp, SamplerOverrides } from '@oneflow/contracts';
import { BlobNotFoundError, type BlobStore } from '@oneflow/store';
import type { ModelCatalog } from './models.js';

/** What one checkpoint shows a user: progress, text so far, the images' clocks. */
export interface Snapshot {
  checkpointId: string;
  parentId: string | null;
  model: string;
  step: number;
  /**
   * The step the generation is expected to end at: `step` + the steps its slowest clock still
   * needs. Not the sampler's `steps` parameter, which is per clock: an image inserted late runs
   * its own `steps` steps, so a 32-step generation can end at step 60. Grows while images are
   * still being inserted; equals `step` once done.
   */
  steps: number;
  done: boolean;
  tText: number;
  text: string;
  /** Clock of each generated image, in order (1 = clean). */
  imageClocks: number[];
}

/** A request the engine would refuse; the API answers BAD_REQUEST instead of starting a job that fails. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

/** Steps until every clock (text and each image) reaches 1, at `1 / params.steps` per step. */
export function remainingSteps(s: { tText: number; images: readonly { t: number }[]; params: { steps: number } }): number {
  const n = s.params.steps;
  const left = (t: number) => Math.ceil((1 - t) * n - 1e-9);
  return Math.max(0, left(s.tText), ...s.images.map((im) => left(im.t)));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads checkpoints from the worker's store. Checkpoints are immutable and content-addressed, so
 * decoded states are cached by id.
 */
export class CheckpointReader {
  private readonly cache = new Map<string, { state: SamplerState; parent: string | null }>();
  constructor(
    private readonly store: BlobStore,
    private readonly models: ModelCatalog,
    private readonly cacheSize = 1024,
  ) {}

  /** The decoded checkpoint, or null when the store does not have it. Corrupt blobs throw. */
  async load(id: string): Promise<{ state: SamplerState; parent: string | null } | null> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    let bytes: Uint8Array;
    try {
      bytes = await this.store.get(id);
    } catch (error) {
      if (error instanceof BlobNotFoundError) return null;
      throw error;
    }
    const { state, parent } = decodeCheckpoint(bytes, id);
    const entry = { state, parent };
    this.cache.set(id, entry);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }

  async snapshot(id: string): Promise<Snapshot | null> {
    const c = await this.load(id);
    if (!c) return null;
    const gen = generated(c.state);
    const tokenizer = this.models.get(c.state.spec.name)?.tokenizer;
    return {
      checkpointId: id,
      parentId: c.parent,
      model: c.state.spec.name,
      step: c.state.step,
      steps: c.state.step + remainingSteps(c.state),
      done: isDone(c.state),
      tText: c.state.tText,
      text: tokenizer ? tokenizer.decode(gen.tokens) : '',
      imageClocks: gen.images.map((im) => im.t),
    };
  }

  /**
   * The chain that ends at `headId`, oldest first, down to (and including) the first checkpoint at
   * or below `floorStep`; one checkpoint per step (the nearest wins where a derive made two).
   */
  async chain(headId: string, floorStep: number, limit = 10_000): Promise<Snapshot[]> {
    const out: Snapshot[] = [];
    let id: string | null = headId;
    while (id !== null && out.length < limit) {
      const s = await this.snapshot(id);
      if (!s) break;
      if (out.length === 0 || s.step < out[out.length - 1]!.step) out.push(s);
      if (s.step <= floorStep) break;
      id = s.parentId;
    }
    return out.reverse();
  }

  /** The checkpoint at `step` on the chain ending at `headId`, or null. */
  async ancestorAt(headId: string, step: number): Promise<Snapshot | null> {
    const chain = await this.chain(headId, step);
    const first = chain[0];
    return first && first.step === step ? first : null;
  }

  /** Generated image `k` of a checkpoint as an 8-bit grayscale PNG; null when there is no such image. */
  async png(id: string, k: number): Promise<Buffer | null> {
    const c = await this.load(id);
    if (!c) return null;
    const image = generated(c.state).images[k];
    if (!image) return null;
    return latentToPng(image.latent, c.state.spec.latentShape);
  }

  /** Checks a new request the way the engine will (model, vocabulary, images, parameters). */
  validateRequest(r: GenerationRequest): void {
    const model = this.models.get(r.model);
    if (!model)
      throw new InvalidInputError(
        `unknown model ${JSON.stringify(r.model)}; models: ${
          this.models
            .list()
            .map((m) => m.config.spec.name)
            .join(', ') || 'none'
        }`,
      );
    try {
      stateFromSpec(
        { ...r, images: (r.images ?? []).map((b64) => Buffer.from(b64, 'base64')), seed: r.seed ?? 0 },
        model.config,
        model.tokenizer,
      );
    } catch (error) {
      throw new InvalidInputError(messageOf(error));
    }
  }

  /** Applies a branch's overrides and refinement to a checkpoint without storing anything (the engine's derive, dry). */
  async validateDerive(checkpointId: string, change: { overrides?: SamplerOverrides; refine?: RefineOp }): Promise<Snapshot> {
    const c = await this.load(checkpointId);
    if (!c) throw new InvalidInputError(`checkpoint ${checkpointId} not found`);
    const model = this.models.get(c.state.spec.name);
    if (!model)
      throw new InvalidInputError(`checkpoint ${checkpointId} is of model ${c.state.spec.name}, which this server does not serve`);
    try {
      // a dry run: the engine derives (and stores) it again
      applyBranchChange(c.state, change, (text) => model.tokenizer.prompt(text));
    } catch (error) {
      throw new InvalidInputError(messageOf(error));
    }
    return (await this.snapshot(checkpointId))!;
  }
}
