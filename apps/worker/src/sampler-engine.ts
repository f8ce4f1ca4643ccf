import {
  applyBranchChange,
  stateFromSpec,
  decodeCheckpoint,
  encodeCheckpoint,
  generated,
  isDone,
  step,
  CheckpointError,
  loadModelConfig,
  ModelRunner,
  Tokenizer,
  TokenizeError,
  type RunnerOptions,
  type LoadedModelConfig,
  type SamplerState,
  type StepOutputs,
} from '@oneflow/sampler';
import { generationRequestSchema, type CheckpointSummary, type RefineOp, type SamplerOverrides } from '@oneflow/contracts';
import type { BlobStore } from '@oneflow/store';
import { EngineInputError, type GenerationEngine } from './engine.js';

/** The model outputs one step needs (`ModelRunner` from the sampler, off the event loop). */
export interface StepRunner {
  stepOutputs(state: SamplerState): Promise<StepOutputs>;
}

export interface LoadedModel {
  readonly config: LoadedModelConfig;
  readonly tokenizer: Tokenizer;
  readonly runner: StepRunner;
}

/** The checkpoint format's id (moved to the sampler so the API can read the store too). */
export { checkpointIdOf } from '@oneflow/sampler';

/**
 * The OneFlow generation engine: sampler states live only as checkpoints in the blob store; a
 * step loads one, runs the model (the conditional row and the twins its guidance needs, in one
 * batch), applies `step`, and stores the child checkpoint.
 */
export class SamplerEngine implements GenerationEngine {
  /** Recently written states by checkpoint id: a step's input is usually the previous step's output. */
  private readonly recent = new Map<string, SamplerState>();

  constructor(
    private readonly models: ReadonlyMap<string, LoadedModel>,
    private readonly store: BlobStore,
    private readonly cacheSize = 256,
  ) {}

  private remember(id: string, state: SamplerState): void {
    this.recent.delete(id);
    this.recent.set(id, state);
    if (this.recent.size > this.cacheSize) this.recent.delete(this.recent.keys().next().value!);
  }

  private model(name: string): LoadedModel {
    const model = this.models.get(name);
    if (!model)
      throw new EngineInputError(
        `unknown model ${JSON.stringify(name)}; this worker serves ${[...this.models.keys()].join(', ') || 'no models'}`,
      );
    return model;
  }

  private async load(checkpointId: string): Promise<{ state: SamplerState; model: LoadedModel }> {
    let state = this.recent.get(checkpointId);
    if (!state) {
      const bytes = await this.store.get(checkpointId);
      try {
        state = decodeCheckpoint(bytes, checkpointId).state;
      } catch (error) {
        if (error instanceof CheckpointError) throw new EngineInputError(`checkpoint ${checkpointId}: ${error.message}`);
        throw error;
      }
    }
    const model = this.model(state.spec.name);
    if (model.config.spec.sha256 !== state.spec.sha256) {
      throw new EngineInputError(
        `checkpoint ${checkpointId} was made with ${state.spec.name} sha256 ${state.spec.sha256}; this worker has ${model.config.spec.sha256}`,
      );
    }
    return { state, model };
  }

  private async save(state: SamplerState, parent: string | null, model: LoadedModel, durable = true): Promise<CheckpointSummary> {
    const { id, bytes } = encodeCheckpoint({ state, parent });
    const stored = await this.store.put(bytes, { durable });
    if (stored !== id) throw new Error(`store returned id ${stored} for checkpoint ${id}: the store must use checkpointIdOf`);
    this.remember(id, state);
    return summarize(id, parent, state, model);
  }

  persist(checkpointId: string): Promise<void> {
    return this.store.persist(checkpointId);
  }

  async create(request: unknown): Promise<CheckpointSummary> {
    const parsed = generationRequestSchema.safeParse(request);
    if (!parsed.success)
      throw new EngineInputError(
        `invalid generation request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const r = parsed.data;
    const model = this.model(r.model);
    let state: SamplerState;
    try {
      state = stateFromSpec({ ...r, images: r.images.map((b64) => Buffer.from(b64, 'base64')) }, model.config, model.tokenizer);
    } catch (error) {
      if (error instanceof TokenizeError || error instanceof RangeError) throw new EngineInputError(error.message);
      throw error;
    }
    return this.save(state, null, model);
  }

  async derive(checkpointId: string, change: { overrides?: SamplerOverrides; refine?: RefineOp }): Promise<CheckpointSummary> {
    const { state: parent, model } = await this.load(checkpointId);
    let state: SamplerState;
    try {
      state = applyBranchChange(parent, change, (text) => model.tokenizer.prompt(text));
    } catch (error) {
      if (error instanceof TokenizeError || error instanceof RangeError) throw new EngineInputError(error.message);
      throw error;
    }
    return this.save(state, checkpointId, model);
  }

  async advance(checkpointId: string): Promise<CheckpointSummary> {
    const { state, model } = await this.load(checkpointId);
    if (isDone(state)) return summarize(checkpointId, null, state, model);
    const next = step(state, await model.runner.stepOutputs(state));
    return this.save(next, checkpointId, model, false);
  }

  async describe(checkpointId: string): Promise<CheckpointSummary> {
    const bytes = await this.store.get(checkpointId);
    const { state, parent } = decodeCheckpoint(bytes, checkpointId);
    return summarize(checkpointId, parent, state, this.model(state.spec.name));
  }
}

function summarize(checkpointId: string, parentId: string | null, state: SamplerState, model: LoadedModel): CheckpointSummary {
  const gen = generated(state);
  return {
    checkpointId,
    parentId,
    model: state.spec.name,
    step: state.step,
    done: isDone(state),
    tText: state.tText,
    text: model.tokenizer.decode(gen.tokens),
    imageClocks: gen.images.map((im) => im.t),
  };
}

/**
 * Loads each model directory (config.json + ONNX) once: its tokenizer and a `ModelRunner` whose
 * worker threads hold verified sessions. Close the runners on shutdown.
 */
export async function loadModels(
  dirs: readonly string[],
  options: RunnerOptions = {},
): Promise<Map<string, LoadedModel & { runner: ModelRunner }>> {
  const models = new Map<string, LoadedModel & { runner: ModelRunner }>();
  for (const dir of dirs) {
    const config = await loadModelConfig(dir);
    if (models.has(config.spec.name)) throw new Error(`model ${config.spec.name} is configured twice (${dir})`);
    const runner = await ModelRunner.start(config, options);
    models.set(config.spec.name, { config, tokenizer: Tokenizer.fromConfig(config.config), runner });
  }
  return models;
}
