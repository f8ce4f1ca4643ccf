import type { ModelSpec, SamplerParams, StateOutputs } from '@oneflow/sampler';
import type { BatchRow } from './oneflow-io.js';
import type { BatcherStats } from './batcher.js';
import type { GraphSpec } from './onnx/pool.js';
import type { ExecutionProvider, FloatType, GraphFile } from './onnx/tensor.js';
import type { Tokenizer } from './tokenizers/tokenizer.js';

export type Shape3 = readonly [number, number, number];

/** One ONNX graph of a model directory: its path and every file whose hash is checked before use. */
export interface GraphFiles {
  readonly path: string;
  readonly files: readonly GraphFile[];
}

/**
 * A model directory, read and validated, without any session: what the API and the worker share.
 * Produced by a format's `describe` (backends/<format>.ts).
 */
export interface ModelInfo {
  readonly dir: string;
  /** The backend that reads it, e.g. `oneflow-v1`. */
  readonly format: string;
  readonly contractVersion: number;
  /** What sampler states carry (identity, vocabulary constants, latent shape). */
  readonly spec: ModelSpec;
  /** Sampler settings from the config (`sampler_defaults`), with its caps. */
  readonly defaults: SamplerParams;
  readonly tokenizer: Tokenizer;
  /** Pixels `[C, H, W]` of input and output images. */
  readonly imageShape: Shape3;
  /** Latents `[C, H, W]` the sampler integrates (= imageShape when the model has no autoencoder). */
  readonly latentShape: Shape3;
  /** Float element type of the main graph's inputs and outputs. */
  readonly dtype: FloatType;
  readonly executionProvider: ExecutionProvider;
  /** Most rows per forward pass the config allows (undefined: the runner's default). */
  readonly maxBatch: number | undefined;
  readonly graphs: { readonly model: GraphFiles; readonly encoder?: GraphFiles; readonly decoder?: GraphFiles };
  /** For clients: the word list of a word-level vocabulary (null for subword tokenizers). */
  readonly vocabulary: readonly string[] | null;
  /** The parsed config.json, unknown keys kept. */
  readonly config: Readonly<Record<string, unknown>>;
}

export interface RunnerOptions {
  /** Worker threads, each with its own session of the main graph (default 1). */
  threads?: number;
  /** ONNX Runtime intra-op threads per session (default 1). */
  intraOpThreads?: number;
  /** Most rows in one forward pass (default: config `max_batch`, else 16). */
  maxBatch?: number;
  /**
   * Longest a request waits for others to join its batch while a session is idle. Default 0: wait
   * only until the current turn of the event loop ends (`setImmediate`).
   */
  maxWaitMs?: number;
  /** Default: config `execution_provider`, else `cpu`. */
  executionProvider?: ExecutionProvider;
  /** Token axis padding: rows run at L rounded up to this multiple (default 8); see `canonicalShape`. */
  padMultiple?: number;
}

export interface RunnerStats extends BatcherStats {
  /** Time inside `session.run`, summed over batches (ms). */
  modelMs: number;
  /** Main-thread time spent padding inputs and slicing outputs (ms). */
  packMs: number;
}

/** The running side of a model: sessions behind micro-batchers. Made by a format's `open`. */
export interface ModelBackend {
  readonly stats: RunnerStats;
  /** Model outputs for each row (unpadded); rows are batched with concurrent callers'. */
  forward(rows: readonly BatchRow[]): Promise<StateOutputs[]>;
  /** Pixels `[C, H, W]` (imageShape) → latents (latentShape); the identity without an encoder. */
  encode(pixels: readonly Float32Array[]): Promise<Float32Array[]>;
  /** Latents → pixels `[C, H, W]` in [-1, 1]; the identity without a decoder. */
  decode(latents: readonly Float32Array[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** Which graphs `open` starts: serving needs all; an API that only shows images needs the decoder. */
export type GraphRole = 'model' | 'encoder' | 'decoder';

/**
 * A model format: one module per format under backends/, registered in formats.ts. `describe`
 * reads the directory (pure TypeScript, no native code); `open` starts what runs it.
 */
export interface ModelFormat {
  readonly id: string;
  readonly contractVersion: number;
  describe(dir: string, config: unknown): Promise<ModelInfo>;
  open(info: ModelInfo, options: RunnerOptions, roles: readonly GraphRole[]): Promise<ModelBackend>;
}

/** A graph spec for the session pool from a model's files and the chosen provider. */
export function graphSpec(files: GraphFiles, provider: ExecutionProvider, intraOpThreads: number): GraphSpec {
  return { path: files.path, files: files.files, provider, intraOpThreads };
}
