// The engine lives in @oneflow/engine (the API uses its read side too); this worker's modules import it from here.
export { InvalidInputError, type GenerationEngine } from '@oneflow/engine';
