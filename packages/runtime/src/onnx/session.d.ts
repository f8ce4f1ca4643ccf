import type { InferenceSession } from 'onnxruntime-node';
import type { GraphFile, GraphMetadata, NamedTensor, RawOutputs } from './tensor.js';

export function sha256File(path: string): Promise<string>;
export function createSession(graph: {
  path: string;
  files: readonly GraphFile[];
  provider: 'cpu' | 'cuda';
  intraOpThreads: number;
}): Promise<{ session: InferenceSession } & GraphMetadata>;
export function runSession(session: InferenceSession, inputs: Record<string, NamedTensor>): Promise<{ outputs: RawOutputs; ms: number }>;
