import { type ExecutionProvider, type GraphMetadata, type OutputMap, type TensorMap, floatOutput } from './tensor.js';
import { createSession, runSession } from './session.js';

export * from './tensor.js';

/** A session on the calling thread (tests and tools; serving runs sessions in worker threads, see pool.ts). */
export interface OnnxModel extends GraphMetadata {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: TensorMap): Promise<OutputMap>;
  release(): Promise<void>;
}

export interface LoadOptions {
  intraOpThreads?: number;
  executionProvider?: ExecutionProvider;
  /** Expected SHA-256 of the file, checked before the session is created. */
  sha256?: string;
}

/**
 * Loads an ONNX file into a session on this thread. `run` blocks the thread while the model
 * computes: never use it on a server's event loop. Imported as `@oneflow/runtime/onnx`, so the
 * package's main entry never loads the native binding.
 */
export async function loadOnnxModel(path: string, options: LoadOptions = {}): Promise<OnnxModel> {
  const { session, inputs, outputs } = await createSession({
    path,
    files: options.sha256 ? [{ path, sha256: options.sha256, field: 'sha256' }] : [],
    provider: options.executionProvider ?? 'cpu',
    intraOpThreads: options.intraOpThreads ?? 1,
  });
  return {
    inputs,
    outputs,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const typed = Object.fromEntries(
        Object.entries(feeds).map(([k, t]) => [k, t.type === undefined ? { ...t, type: 'float32' as const } : t]),
      );
      const result = await runSession(session, typed);
      return Object.fromEntries(Object.entries(result.outputs).map(([name, t]) => [name, floatOutput(name, t)]));
    },
    release: () => session.release(),
  };
}
