export const PROVIDERS: readonly ['cpu', 'cuda'];
export function sessionOptions(provider: 'cpu' | 'cuda', intraOpThreads: number): Record<string, unknown>;
export function kernelPathRows<T>(rows: readonly T[], paddedImages: number, realImages: number): T[];
export function feedTensor<T>(
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => T,
  type: string,
  data: ArrayBufferView,
  dims: readonly number[],
): T;
