import { InferenceSession, Tensor } from 'onnxruntime-node';

/** Named float32 tensors: `data` row-major with the given `dims`. */
export type TensorMap = Record<string, { data: Float32Array; dims: readonly number[] }>;

export interface OnnxModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: TensorMap): Promise<TensorMap>;
  release(): Promise<void>;
}

/**
 * Loads an ONNX file into an onnxruntime-node session on the CPU execution provider.
 * This is the thin runtime layer; the sampler's worker-thread runner and micro-batcher build on it.
 */
export async function loadOnnxModel(path: string, options: { intraOpThreads?: number } = {}): Promise<OnnxModel> {
  const session = await InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.intraOpThreads ?? 1,
    graphOptimizationLevel: 'all',
  });
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs) {
      const feeds: Record<string, Tensor> = {};
      for (const [name, { data, dims }] of Object.entries(inputs)) feeds[name] = new Tensor('float32', data, dims);
      const results = await session.run(feeds);
      const out: TensorMap = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (tensor.type !== 'float32') throw new Error(`output ${name}: expected float32, got ${tensor.type}`);
        out[name] = { data: tensor.data as Float32Array, dims: tensor.dims };
      }
      return out;
    },
    release: () => session.release(),
  };
}
