// Execution-provider specifics, in one place. Plain JavaScript: the session worker thread imports it
// under any loader (tsx, Vitest, plain node) without a TypeScript hook.

/** Providers a model may ask for in its config (`execution_provider`). */
export const PROVIDERS = ['cpu', 'cuda'];

/**
 * ONNX Runtime session options for one provider. A CUDA session is created with the CUDA provider
 * only: ONNX Runtime would otherwise place unsupported nodes (or everything, when the provider
 * cannot load) on the CPU without saying so.
 * @param {'cpu'|'cuda'} provider
 * @param {number} intraOpThreads
 */
export function sessionOptions(provider, intraOpThreads) {
  if (!PROVIDERS.includes(provider))
    throw new Error(`unknown execution provider ${JSON.stringify(provider)}; known: ${PROVIDERS.join(', ')}`);
  const base = { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  if (provider === 'cuda') return { ...base, executionProviders: [{ name: 'cuda', deviceId: 0 }] };
  return { ...base, executionProviders: ['cpu'] };
}

/**
 * The rows to send for a batch so that every row takes the kernel path it takes in any other
 * batch of its shape: ONNX Runtime's CPU convolutions take another path when exactly one image
 * goes through them (B·M = 1), which changes the last bits, so such a row is sent twice (the
 * second copy's outputs are dropped).
 * @template T
 * @param {readonly T[]} rows
 * @param {number} paddedImages image slots per row in the padded batch (M)
 * @param {number} realImages image slots of the single row
 * @returns {T[]}
 */
export function kernelPathRows(rows, paddedImages, realImages) {
  return rows.length === 1 && paddedImages === 1 && realImages === 1 ? [rows[0], rows[0]] : [...rows];
}

/**
 * A tensor to feed a session. onnxruntime-common wraps float16 data in a Float16Array where the
 * JavaScript engine has one (Node ≥ 24), which onnxruntime-node 1.30's native binding reads as
 * empty ("not enough space: expected N, got 0"); the binding is given the same bytes as the
 * Uint16Array it reads on engines without Float16Array.
 * @param {new (type: string, data: unknown, dims: readonly number[]) => { data: ArrayBufferView, cpuData?: unknown }} Tensor
 * @param {string} type
 * @param {ArrayBufferView} data
 * @param {readonly number[]} dims
 */
export function feedTensor(Tensor, type, data, dims) {
  const tensor = new Tensor(type, data, dims);
  if (type === 'float16' && !(tensor.data instanceof Uint16Array)) {
    tensor.cpuData = new Uint16Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength / 2);
  }
  return tensor;
}
