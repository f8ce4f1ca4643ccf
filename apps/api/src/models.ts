import type { ReadableModel } from '@oneflow/engine';
import { describeModelDir, ImageReader, pngToPixels, type ModelInfo } from '@oneflow/runtime';
import { latentSize } from '@oneflow/sampler';

/** A model as the API knows it: its described directory, and what the engine's read side needs. */
export interface CatalogModel extends ReadableModel {
  readonly info: ModelInfo;
}

/** Model directories as the worker finds them: `ONEFLOW_MODELS` (comma-separated) or every `models/*` with a config.json. */
export { modelDirs } from '@oneflow/runtime';

/**
 * The models' directories, described (config, tokenizer, files; no ONNX session): the API
 * validates requests, decodes text and shows images. A model with a decoder gets one session on
 * the first image read (`ImageReader`, in a worker thread); PNGs are cached by checkpoint and slot.
 */
export class ModelCatalog {
  private constructor(
    private readonly byName: ReadonlyMap<string, CatalogModel>,
    private readonly images: ImageReader,
  ) {}

  static async load(dirs: readonly string[], images = new ImageReader()): Promise<ModelCatalog> {
    const byName = new Map<string, CatalogModel>();
    for (const dir of dirs) {
      const info = await describeModelDir(dir);
      if (byName.has(info.spec.name)) throw new Error(`model ${info.spec.name} is configured twice (${dir})`);
      byName.set(info.spec.name, {
        info,
        config: info,
        tokenizer: info.tokenizer,
        // a dry run only checks the image: its latent is the worker's to compute
        latentOf: async (png) => {
          pngToPixels(png, info.imageShape);
          return new Float32Array(latentSize(info.spec));
        },
        pngOf: (key, latent) => images.png(info, key, latent),
      });
    }
    return new ModelCatalog(byName, images);
  }

  get(name: string): CatalogModel | undefined {
    return this.byName.get(name);
  }

  list(): CatalogModel[] {
    return [...this.byName.values()].sort((a, b) => a.info.spec.name.localeCompare(b.info.spec.name));
  }

  /** The models by name, as the engine's read side takes them. */
  byModelName(): ReadonlyMap<string, CatalogModel> {
    return this.byName;
  }

  /** Stops the decoder sessions, if any were started. */
  close(): Promise<void> {
    return this.images.close();
  }
}
