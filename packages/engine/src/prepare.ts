import { generationRequestSchema } from '@oneflow/contracts';
import { applyBranchChange, stateFromSpec, type SamplerState } from '@oneflow/sampler';
import type { BranchChangeRequest } from './engine.js';
import { InvalidInputError } from './errors.js';
import { modelNamed, modelOfCheckpoint, type EngineModel, type EngineModels } from './models.js';

/**
 * A refusal of input by one of the sampler's state builders or a model's image reader:
 * `RangeError` (an image, parameter, span or index that does not fit), the tokenizer's
 * `TokenizeError` or the image codec's `ImageError` (known by name: they live in the model
 * runtime, which this package does not import).
 */
function isRefusal(error: unknown): error is Error {
  return error instanceof RangeError || (error instanceof Error && (error.name === 'TokenizeError' || error.name === 'ImageError'));
}

/**
 * Runs one of the sampler's state builders, turning its refusals into InvalidInputError. Only the
 * builders are wrapped, so a RangeError from a model step stays what it is, a bug.
 */
function refusingBadInput<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (isRefusal(error)) throw new InvalidInputError(error.message);
    throw error;
  }
}

/**
 * The root state of a new generation from a request (`generationRequestSchema`: prompt, base64
 * PNGs, settings), with the model it runs on. The worker's `create` stores it; the API runs it dry
 * to refuse a request before it starts a job.
 */
export async function prepareNew<M extends EngineModel>(
  models: EngineModels<M>,
  request: unknown,
): Promise<{ state: SamplerState; model: M }> {
  const parsed = generationRequestSchema.safeParse(request);
  if (!parsed.success)
    throw new InvalidInputError(
      `invalid generation request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const r = parsed.data;
  const model = modelNamed(models, r.model);
  const latents = await Promise.all(
    r.images.map((b64, i) =>
      model.latentOf(Buffer.from(b64, 'base64')).catch((error: unknown) => {
        throw isRefusal(error) ? new InvalidInputError(`images.${i}: ${error.message}`) : error;
      }),
    ),
  );
  const settings = {
    prompt: r.prompt,
    seed: r.seed,
    steps: r.steps,
    guidance: r.guidance,
    imageGuidance: r.imageGuidance,
    temperature: r.temperature,
    topK: r.topK,
  };
  const state = refusingBadInput(() =>
    stateFromSpec({ ...settings, latents }, { spec: model.config.spec, defaults: model.config.defaults, tokenizer: model.tokenizer }),
  );
  return { state, model };
}

/**
 * The root state of a branch: checkpoint `checkpointId` (its decoded `state`) with the change's
 * overrides, then its refinement, applied. The worker's `derive` stores it; the API runs it dry.
 */
export function prepareDerived<M extends EngineModel>(
  models: EngineModels<M>,
  checkpoint: { id: string; state: SamplerState },
  change: BranchChangeRequest,
): { state: SamplerState; model: M } {
  const model = modelOfCheckpoint(models, checkpoint.id, checkpoint.state);
  const state = refusingBadInput(() => applyBranchChange(checkpoint.state, change, (text) => model.tokenizer.prompt(text)));
  return { state, model };
}
