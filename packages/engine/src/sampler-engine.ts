import type { CheckpointSummary } from '@oneflow/contracts';
import { isDone, step, type SamplerState, type StepOutputs } from '@oneflow/sampler';
import type { BlobStore } from '@oneflow/store';
import { CheckpointStore, summarize, type StoredCheckpoint } from './checkpoints.js';
import type { BranchChangeRequest, GenerationEngine } from './engine.js';
import { modelOfCheckpoint, type EngineModel, type EngineModels } from './models.js';
import { prepareDerived, prepareNew } from './prepare.js';

/** The model outputs one step needs (the worker's model runner, off the event loop). */
export interface StepRunner {
  stepOutputs(state: SamplerState): Promise<StepOutputs>;
}

/** A served model that can run steps. */
export interface SteppingModel extends EngineModel {
  readonly runner: StepRunner;
}

/**
 * The OneFlow generation engine: sampler states live only as checkpoints in the blob store; a
 * step loads one, runs the model (the conditional row and the twins its guidance needs, in one
 * batch), applies `step`, and stores the child checkpoint.
 */
export class SamplerEngine implements GenerationEngine {
  private readonly checkpoints: CheckpointStore;

  /** @param cacheSize decoded checkpoints kept: a step's input is usually the previous step's output */
  constructor(
    private readonly models: EngineModels<SteppingModel>,
    store: BlobStore,
    cacheSize = 256,
  ) {
    this.checkpoints = new CheckpointStore(store, cacheSize);
  }

  private async load(checkpointId: string): Promise<{ checkpoint: StoredCheckpoint; model: SteppingModel }> {
    const checkpoint = await this.checkpoints.get(checkpointId);
    return { checkpoint, model: modelOfCheckpoint(this.models, checkpointId, checkpoint.state) };
  }

  private async save(state: SamplerState, parent: string | null, model: EngineModel, durable = true): Promise<CheckpointSummary> {
    return summarize(await this.checkpoints.put(state, parent, durable), model.tokenizer);
  }

  persist(checkpointId: string): Promise<void> {
    return this.checkpoints.persist(checkpointId);
  }

  async create(request: unknown): Promise<CheckpointSummary> {
    const { state, model } = await prepareNew(this.models, request);
    return this.save(state, null, model);
  }

  async derive(checkpointId: string, change: BranchChangeRequest): Promise<CheckpointSummary> {
    const { state, model } = prepareDerived(this.models, await this.checkpoints.get(checkpointId), change);
    return this.save(state, checkpointId, model);
  }

  async advance(checkpointId: string): Promise<CheckpointSummary> {
    const { checkpoint, model } = await this.load(checkpointId);
    if (isDone(checkpoint.state)) return summarize(checkpoint, model.tokenizer);
    const next = step(checkpoint.state, await model.runner.stepOutputs(checkpoint.state));
    return this.save(next, checkpointId, model, false);
  }

  async describe(checkpointId: string): Promise<CheckpointSummary> {
    const { checkpoint, model } = await this.load(checkpointId);
    return summarize(checkpoint, model.tokenizer);
  }
}
