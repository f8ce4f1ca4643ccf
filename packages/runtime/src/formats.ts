import { readFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { oneflowV1 } from './backends/oneflow-v1.js';
import { oneflowV2 } from './backends/oneflow-v2.js';
import type { ModelFormat, ModelInfo } from './model.js';

/** Every model format the runtime reads, by contract version (docs/adding-a-model-format.md). */
export const FORMATS: readonly ModelFormat[] = [oneflowV1, oneflowV2];

/**
 * Reads and validates a model directory (config.json and the files it names, no ONNX session):
 * the format comes from `contract_version`. Errors name the file and the field.
 */
export async function describeModelDir(dir: string): Promise<ModelInfo> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read model config ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${(e as Error).message}`);
  }
  const version = (json as { contract_version?: unknown } | null)?.contract_version;
  const format = FORMATS.find((f) => f.contractVersion === version);
  if (!format) {
    throw new Error(
      `${path}: contract_version ${JSON.stringify(version)} is not one this runtime reads (${FORMATS.map((f) => f.contractVersion).join(', ')})`,
    );
  }
  return format.describe(dir, json);
}

/** The format module of a described model. */
export function formatOf(info: Pick<ModelInfo, 'format'>): ModelFormat {
  const f = FORMATS.find((x) => x.id === info.format);
  if (!f) throw new Error(`no model format ${info.format}`);
  return f;
}

/**
 * Model directories to serve: the comma-separated `models` list (ONEFLOW_MODELS) if given, else
 * every directory under `root` that has a config.json.
 */
export function modelDirs(models: string | undefined, root = resolve('models')): string[] {
  if (models)
    return models
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => resolve(d));
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((dir) => existsSync(join(dir, 'config.json')));
}
