import type { SamplerState, stateFromSpec } from '@oneflow/sampler';
import { InvalidInputError } from './errors.js';

/**
 * What the engine uses of a served model: its spec and sampler defaults, and its tokenizer
 * (`prompt`, `decode`, `pieces`). Both the worker's loaded models and the API's catalog are one.
 */
export interface EngineModel {
  readonly config: Parameters<typeof stateFromSpec>[1];
  readonly tokenizer: Parameters<typeof stateFromSpec>[2];
}

/** The models a process serves, by name (`spec.name`). */
export type EngineModels<M extends EngineModel = EngineModel> = ReadonlyMap<string, M>;

/** The served model called `name`, or InvalidInputError naming the ones there are. */
export function modelNamed<M extends EngineModel>(models: EngineModels<M>, name: string): M {
  const model = models.get(name);
  if (!model)
    throw new InvalidInputError(`unknown model ${JSON.stringify(name)}; models: ${[...models.keys()].sort().join(', ') || 'none'}`);
  return model;
}

/** The served model a checkpoint was made with (same name and weights), or InvalidInputError. */
export function modelOfCheckpoint<M extends EngineModel>(models: EngineModels<M>, checkpointId: string, state: SamplerState): M {
  const model = models.get(state.spec.name);
  if (!model) throw new InvalidInputError(`checkpoint ${checkpointId} is of model ${state.spec.name}, which is not served here`);
  if (model.config.spec.sha256 !== state.spec.sha256) {
    throw new InvalidInputError(
      `checkpoint ${checkpointId} was made with ${state.spec.name} sha256 ${state.spec.sha256}; this server has ${model.config.spec.sha256}`,
    );
  }
  return model;
}
