import { loadModelConfig, Tokenizer, type LoadedModelConfig } from '@oneflow/sampler';

export interface CatalogModel {
  readonly config: LoadedModelConfig;
  readonly tokenizer: Tokenizer;
}

/** Model directories as the worker finds them: `ONEFLOW_MODELS` (comma-separated) or every `models/*` with a config.json. */
export { modelDirs } from '@oneflow/sampler';

/** The models' config.json files (no ONNX session: the API validates requests and decodes text only). */
export class ModelCatalog {
  private constructor(private readonly byName: ReadonlyMap<string, CatalogModel>) {}

  static async load(dirs: readonly string[]): Promise<ModelCatalog> {
    const byName = new Map<string, CatalogModel>();
    for (const dir of dirs) {
      const config = await loadModelConfig(dir);
      byName.set(config.spec.name, { config, tokenizer: Tokenizer.fromConfig(config.config) });
    }
    return new ModelCatalog(byName);
  }

  get(name: string): CatalogModel | undefined {
    return this.byName.get(name);
  }

  list(): CatalogModel[] {
    return [...this.byName.values()].sort((a, b) => a.config.spec.name.localeCompare(b.config.spec.name));
  }
}
