import { InferenceSession, Tensor } from 'onnxruntime-node';

/** A named tensor: `data` row-major with the given `dims`; bool tensors are Uint8Array of 0/1. */
export type NamedTensor =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] }
  | { type: 'bool'; data: Uint8Array; dims: readonly number[] };

/** Inputs may omit `type` for float32; outputs always carry it. */
export type TensorInput = NamedTensor | { type?: undefined; data: Float32Array; dims: readonly number[] };
export type TensorMap = Record<string, TensorInput>;
export type OutputMap = Record<string, { data: Float32Array; dims: readonly number[] }>;

export type ExecutionProvider = 'cpu' | 'cuda';

export interface OnnxModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: TensorMap): Promise<OutputMap>;
  release(): Promise<void>;
}

export interface LoadOptions {
  intraOpThreads?: number;
  executionProvider?: ExecutionProvider;
}

/**
 * Loads an ONNX model (a path or the file's bytes) into an onnxruntime-node session.
 * `run` blocks the calling thread while the model computes: the sampler calls it from worker threads
 * (model/runner.ts), never from the main event loop.
 */
export async function loadOnnxModel(source: string | Uint8Array, options: LoadOptions = {}): Promise<OnnxModel> {
  const opts: InferenceSession.SessionOptions = {
    executionProviders: [options.executionProvider ?? 'cpu'],
    intraOpNumThreads: options.intraOpThreads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
  const session = typeof source === 'string' ? await InferenceSession.create(source, opts) : await InferenceSession.create(source, opts);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs) {
      const feeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(inputs)) {
        if (t.type === 'int64') feeds[name] = new Tensor('int64', t.data, t.dims);
        else if (t.type === 'bool') feeds[name] = new Tensor('bool', t.data, t.dims);
        else feeds[name] = new Tensor('float32', t.data, t.dims);
      }
      const results = await session.run(feeds);
      const out: OutputMap = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (tensor.type !== 'float32') throw new Error(`output ${name}: expected float32, got ${tensor.type}`);
        out[name] = { data: tensor.data as Float32Array, dims: tensor.dims };
      }
      return out;
    },
    release: () => session.release(),
  };
}
