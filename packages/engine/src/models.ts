import type { PromptModel, SamplerState } from '@oneflow/sampler';
import { InvalidInputError } from './errors.js';

/**
 * What the engine uses of a served model: its spec and sampler defaults, its tokenizer (`prompt`,
 * `decode`, `pieces`), and how an input image becomes a latent. The worker's loaded models and
 * the API's catalog both provide it.
 */
export interface EngineModel {
  readonly config: Pick<PromptModel, 'spec' | 'defaults'>;
  readonly tokenizer: PromptModel['tokenizer'] & {
    encode(text: string): number[];
    decode(ids: readonly number[]): string;
    pieces(ids: readonly number[]): string[];
  };
  /**
   * An input image (PNG bytes) as the model's latent `[C, H, W]` (decoded, checked against the
   * image shape, encoded where the model has an encoder). Throws `RangeError` or the runtime's
   * `ImageError` for an image it refuses.
   */
  latentOf(png: Uint8Array): Promise<Float32Array>;
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
  const shape = model.config.spec.latentShape;
  if (state.spec.latentShape.some((x, i) => x !== shape[i])) {
    throw new InvalidInputError(
      `checkpoint ${checkpointId} has latents [${state.spec.latentShape.join(', ')}]; ${state.spec.name} here has [${shape.join(', ')}]`,
    );
  }
  if (model.config.spec.sha256 !== state.spec.sha256) {
    throw new InvalidInputError(
      `checkpoint ${checkpointId} was made with ${state.spec.name} sha256 ${state.spec.sha256}; this server has ${model.config.spec.sha256}`,
    );
  }
  return model;
}

/**
 * A model whose checkpoints' images a reader shows (the API's PNG routes): latent → PNG of the
 * model's image shape (through its decoder where it has one), cached under `key` (checkpoint id
 * and slot: a checkpoint never changes).
 */
export interface ReadableModel extends EngineModel {
  pngOf(key: string, latent: Float32Array): Promise<Buffer>;
}
