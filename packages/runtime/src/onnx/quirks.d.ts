export const PROVIDERS: readonly ['cpu', 'cuda'];
export function sessionOptions(provider: 'cpu' | 'cuda', intraOpThreads: number): Record<string, unknown>;
export function kernelPathRows<T>(rows: readonly T[], paddedImages: number, realImages: number): T[];
export function feedTensor<T>(
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => T,
  type: string,
  data: ArrayBufferView,
  dims: readonly number[],
): T;

export type ExecutionProviderFailure = 'provider-library-missing' | 'cuda-library-missing' | 'no-driver' | 'no-device' | 'provider-failed';
/** A session that cannot run on the execution provider it was asked for (quirks.js). */
export class ExecutionProviderError extends Error {
  constructor(info: { provider: string; reason: ExecutionProviderFailure; missing?: string[]; detail: string });
  readonly provider: string;
  readonly reason: ExecutionProviderFailure;
  /** Libraries that did not resolve (empty for no-device / provider-failed). */
  readonly missing: string[];
}
export const CUDA_PROVIDER_LIBRARIES: readonly string[];
export const CUDA_DLOPENED_LIBRARIES: readonly string[];
export function onnxRuntimeDir(): string;
export function unresolvedLibraries(lib: string, dlopened?: readonly string[]): string[] | undefined;
export function diagnoseCuda(ortMessage: string, ortDir?: string): ExecutionProviderError;
