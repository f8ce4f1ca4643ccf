import { type SamplerState, type StateOutputs, type StepOutputs, guidanceRows, stepOutputsOf } from '@oneflow/sampler';
import { formatOf } from './formats.js';
import { ImageError, pixelsToPng, pngToPixels } from './images.js';
import type { GraphRole, ModelBackend, ModelInfo, RunnerOptions, RunnerStats } from './model.js';
import type { BatchRow } from './oneflow-io.js';

/**
 * A model being served: its described directory and the running backend (sessions in worker
 * threads behind micro-batchers, one per model, so rows of two models never share a batch).
 * Concurrent callers' rows (different generations, and the guidance twins of one) are merged
 * into padded forward passes; rows are grouped by padded shape so a generation is bit-identical
 * alone or under load.
 */
export class ModelRunner {
  private constructor(
    readonly info: ModelInfo,
    private readonly backend: ModelBackend,
  ) {}

  /** Starts the model's graphs (hash-checked, their inputs and outputs checked against the config); rejects with the reason. */
  static async start(
    info: ModelInfo,
    options: RunnerOptions = {},
    roles: readonly GraphRole[] = ['model', 'encoder', 'decoder'],
  ): Promise<ModelRunner> {
    return new ModelRunner(info, await formatOf(info).open(info, options, roles));
  }

  get stats(): RunnerStats {
    return this.backend.stats;
  }

  /** Outputs for each row (unpadded). */
  forward(rows: readonly BatchRow[]): Promise<StateOutputs[]> {
    return this.backend.forward(rows);
  }

  /** The outputs `step` needs for `state`: conditional, plus the twins its guidance needs (one batched forward). */
  async stepOutputs(state: SamplerState): Promise<StepOutputs> {
    const spec = this.info.spec;
    if (state.spec.sha256 !== spec.sha256) {
      throw new Error(
        `state was made for model ${state.spec.name} (${state.spec.sha256.slice(0, 12)}), this runner serves ${spec.name} (${spec.sha256.slice(0, 12)})`,
      );
    }
    if (state.spec.latentShape.some((x, i) => x !== spec.latentShape[i])) {
      throw new Error(`state has latents [${state.spec.latentShape.join(', ')}], this runner's model [${spec.latentShape.join(', ')}]`);
    }
    return stepOutputsOf(state, await this.forward(guidanceRows(state)));
  }

  /** One input PNG → its latent (through the encoder when the model has one); an {@link ImageError} says what is wrong with it. */
  async latentOfPng(png: Uint8Array): Promise<Float32Array> {
    const [latent] = await this.backend.encode([pngToPixels(png, this.info.imageShape)]);
    return latent!;
  }

  /** Input PNGs → latents (through the encoder when the model has one). Throws {@link ImageError} naming the image. */
  async latentsOfPngs(pngs: readonly Uint8Array[]): Promise<Float32Array[]> {
    return this.backend.encode(pixelsOfPngs(pngs, this.info));
  }

  /** Latents → pixels `[C, H, W]` in [-1, 1] (through the decoder when the model has one). */
  pixelsOfLatents(latents: readonly Float32Array[]): Promise<Float32Array[]> {
    return this.backend.decode(latents);
  }

  /** Latents → PNGs of the model's image shape. */
  async pngsOfLatents(latents: readonly Float32Array[]): Promise<Buffer[]> {
    const pixels = await this.pixelsOfLatents(latents);
    return pixels.map((p) => pixelsToPng(p, this.info.imageShape));
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/** PNGs → pixels of the model's image shape; an {@link ImageError} names the image (`images.<i>`). */
export function pixelsOfPngs(pngs: readonly Uint8Array[], info: Pick<ModelInfo, 'imageShape'>): Float32Array[] {
  return pngs.map((png, i) => {
    try {
      return pngToPixels(png, info.imageShape);
    } catch (error) {
      throw new ImageError(`images.${i}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

/**
 * Images of checkpoints for readers (the API's PNG routes): starts only the decoder, and only
 * when a model has one and an image is first read; decoded PNGs are cached by key (checkpoint
 * id + slot), since a checkpoint never changes.
 */
export class ImageReader {
  private readonly decoders = new Map<string, Promise<ModelRunner>>();
  private readonly cache = new Map<string, Buffer>();

  constructor(
    private readonly options: RunnerOptions = {},
    private readonly cacheSize = 512,
  ) {}

  /** The PNG of `latent` for `info`'s model, from the cache when `key` was decoded before. */
  async png(info: ModelInfo, key: string, latent: Float32Array): Promise<Buffer> {
    const hit = this.cache.get(key);
    if (hit) return hit;
    let png: Buffer;
    if (info.graphs.decoder === undefined) png = pixelsToPng(latent, info.imageShape);
    else {
      let runner = this.decoders.get(info.spec.sha256);
      if (runner === undefined) {
        runner = ModelRunner.start(info, this.options, ['decoder']);
        this.decoders.set(info.spec.sha256, runner);
        runner.catch(() => this.decoders.delete(info.spec.sha256));
      }
      [png] = (await (await runner).pngsOfLatents([latent])) as [Buffer];
    }
    this.cache.set(key, png);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return png;
  }

  async close(): Promise<void> {
    const runners = [...this.decoders.values()];
    this.decoders.clear();
    await Promise.all(runners.map((r) => r.then((x) => x.close()).catch(() => undefined)));
  }
}

export { ImageError };
