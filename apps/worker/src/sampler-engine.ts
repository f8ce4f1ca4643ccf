import type { SteppingModel } from '@oneflow/engine';
import { describeModelDir, ModelRunner, type ModelInfo, type RunnerOptions } from '@oneflow/runtime';

export { SamplerEngine, type StepRunner } from '@oneflow/engine';

/** The checkpoint format's id (in the sampler so the API can read the store too). */
export { checkpointIdOf } from '@oneflow/sampler';

/** A model this worker serves: its described directory and the runner holding its sessions. */
export interface LoadedModel extends SteppingModel {
  readonly info: ModelInfo;
  readonly runner: ModelRunner;
}

/**
 * Loads each model directory once: describes it (config, tokenizer, files) and starts a
 * `ModelRunner` whose worker threads hold hash-checked sessions whose inputs and outputs match the
 * config. All or nothing: if any directory is bad, the runners already started are closed and the
 * error names the directory and what is wrong, so a worker never serves half its models.
 */
export async function loadModels(dirs: readonly string[], options: RunnerOptions = {}): Promise<Map<string, LoadedModel>> {
  const models = new Map<string, LoadedModel>();
  try {
    for (const dir of dirs) {
      let info: ModelInfo;
      let runner: ModelRunner;
      try {
        info = await describeModelDir(dir);
        if (models.has(info.spec.name)) throw new Error(`model ${info.spec.name} is configured twice`);
        runner = await ModelRunner.start(info, options);
      } catch (error) {
        throw new Error(`model directory ${dir}: ${error instanceof Error ? error.message : String(error)}`);
      }
      models.set(info.spec.name, {
        info,
        runner,
        config: info,
        tokenizer: info.tokenizer,
        latentOf: (png) => runner.latentOfPng(png),
      });
    }
  } catch (error) {
    await Promise.all([...models.values()].map((m) => m.runner.close()));
    throw error;
  }
  return models;
}
