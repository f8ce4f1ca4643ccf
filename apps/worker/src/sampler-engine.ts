import { loadModelConfig, ModelRunner, Tokenizer, type LoadedModelConfig, type RunnerOptions } from '@oneflow/sampler';
import type { SteppingModel } from '@oneflow/engine';

export { SamplerEngine, type StepRunner } from '@oneflow/engine';

/** The checkpoint format's id (moved to the sampler so the API can read the store too). */
export { checkpointIdOf } from '@oneflow/sampler';

export interface LoadedModel extends SteppingModel {
  readonly config: LoadedModelConfig;
  readonly tokenizer: Tokenizer;
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
