export { InvalidInputError } from './errors.js';
export type { BranchChangeRequest, GenerationEngine } from './engine.js';
export { modelNamed, modelOfCheckpoint, type EngineModel, type EngineModels, type ReadableModel } from './models.js';
export { prepareDerived, prepareNew } from './prepare.js';
export {
  ancestorAt,
  checkpointChain,
  CheckpointReader,
  CheckpointStore,
  remainingSteps,
  summarize,
  type Snapshot,
  type SnapshotSource,
  type StoredCheckpoint,
} from './checkpoints.js';
export { SamplerEngine, type StepRunner, type SteppingModel } from './sampler-engine.js';
export {
  generationCheckpoints,
  generationIndexSchema,
  indexKey,
  pinKey,
  pinSchema,
  RetentionRecords,
  type GenerationIndex,
  type Link,
  type Pin,
} from './retention.js';
export { CheckpointOwners, ownerKey, ownerMarkerSchema, type OwnerMarker } from './ownership.js';
