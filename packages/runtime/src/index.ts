// The model runtime: model directories (formats under backends/), ONNX sessions in worker threads,
// the micro-batcher, tokenizers, image codecs. Nothing reachable from this entry loads the
// native ONNX Runtime binding on the importing thread: sessions live in worker threads
// (onnx/worker.js), and the direct loader is the separate `@oneflow/runtime/onnx` entry.
export * from './model.js';
export * from './formats.js';
export * from './batcher.js';
export * from './runner.js';
export * from './images.js';
export * from './oneflow-io.js';
export * from './tokenizers/tokenizer.js';
export { WordTokenizer } from './tokenizers/word.js';
export { HfTokenizer, type SpecialTokenNames } from './tokenizers/hf.js';
export { oneflowV1, v1ConfigSchema, type V1Config } from './backends/oneflow-v1.js';
export { oneflowV2, v2ConfigSchema, v2Identity, type V2Config } from './backends/oneflow-v2.js';
export type { ExecutionProvider, FloatType, NamedTensor, OutputMap } from './onnx/tensor.js';
export { toFloat16, fromFloat16 } from './onnx/tensor.js';
export { ExecutionProviderError, type ExecutionProviderFailure } from './onnx/quirks.js';
export { CUDA_DLOPENED_LIBRARIES, CUDA_PROVIDER_LIBRARIES, diagnoseCuda, onnxRuntimeDir, unresolvedLibraries } from './onnx/quirks.js';
