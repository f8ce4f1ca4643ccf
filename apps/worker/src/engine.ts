import type { CheckpointSummary, RefineOp, SamplerOverrides } from '@oneflow/contracts';

/**
 * What the generation activities need from the model side. The sampler-backed implementation
 * loads a checkpoint from the blob store, runs one OneFlow step on the model runner and stores the
 * new checkpoint; tests can plug in their own implementation of this interface.
 *
 * Every method stores its result before resolving, so a crash after it resolves loses nothing,
 * and is deterministic in its input checkpoint, so a retried step reproduces the same checkpoint.
 */
export interface GenerationEngine {
  /** The root checkpoint (step 0) of a new generation, from an engine-specific request. */
  create(request: unknown): Promise<CheckpointSummary>;
  /** A new root derived from any checkpoint, with sampler overrides and/or a refinement applied. */
  derive(checkpointId: string, change: { overrides?: SamplerOverrides; refine?: RefineOp }): Promise<CheckpointSummary>;
  /**
   * One sampler step from `checkpointId`. The new checkpoint survives a crash of this process at
   * once, and the machine's once {@link persist} ran (a local disk's fsync is several times the
   * cost of a toy model's step, so it is paid once per activity, not per step).
   */
  advance(checkpointId: string): Promise<CheckpointSummary>;
  /** Makes a checkpoint written by `advance` durable. */
  persist(checkpointId: string): Promise<void>;
  describe(checkpointId: string): Promise<CheckpointSummary>;
}

/** Input that can never succeed (unknown model, bad parameters, bad refinement): not retried. */
export class EngineInputError extends Error {
  override readonly name = 'EngineInputError';
}
