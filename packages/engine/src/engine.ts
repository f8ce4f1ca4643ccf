import type { CheckpointSummary, RefineOp, SamplerOverrides } from '@oneflow/contracts';

/** A branch's change to the checkpoint it starts from: sampler overrides and at most one refinement. */
export interface BranchChangeRequest {
  overrides?: SamplerOverrides;
  refine?: RefineOp;
}

/**
 * What the generation activities need from the model side. The sampler-backed implementation
 * ({@link SamplerEngine}) loads a checkpoint from the blob store, runs one OneFlow step on the
 * model and stores the new checkpoint; tests plug in their own implementation of this interface.
 *
 * Every method stores its result before resolving, so a crash after it resolves loses nothing,
 * and is deterministic in its input checkpoint, so a retried step reproduces the same checkpoint.
 * Bad input is an `InvalidInputError`.
 */
export interface GenerationEngine {
  /** The root checkpoint (step 0) of a new generation, from an engine-specific request. */
  create(request: unknown): Promise<CheckpointSummary>;
  /** A new root derived from any checkpoint, with sampler overrides and/or a refinement applied. */
  derive(checkpointId: string, change: BranchChangeRequest): Promise<CheckpointSummary>;
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
