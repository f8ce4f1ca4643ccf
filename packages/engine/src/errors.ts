/**
 * Input that can never succeed: an unknown model, parameters or images the sampler refuses, a
 * refinement that does not fit the checkpoint, a checkpoint of another model. The one error the
 * engine throws for bad input: the worker's activities fail it without retrying, the API answers
 * BAD_REQUEST. Anything else the engine throws is a fault of ours (or of the store) and is retried.
 */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}
