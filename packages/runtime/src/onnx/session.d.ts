import type { InferenceSession } from 'onnxruntime-node';
import type { GraphFile, GraphMetadata, NamedTensor, RawOutputs } from './tensor.js';

export function sha256File(path: string): Promise<string>;
export function createSession(graph: {
  path: string;
  files: readonly GraphFile[];
  provider: 'cpu' | 'cuda';
  intraOpThreads: number;
  /** A CUDA session that cannot start runs on the CPU instead (default: MODEL_CPU_FALLBACK=1). */
  cpuFallback?: boolean;
}): Promise<{ session: InferenceSession; provider: 'cpu' | 'cuda' } & GraphMetadata>;
export function runSession(session: InferenceSession, inputs: Record<string, NamedTensor>): Promise<{ outputs: RawOutputs; ms: number }>;
