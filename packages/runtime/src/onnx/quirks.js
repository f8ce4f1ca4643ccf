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
