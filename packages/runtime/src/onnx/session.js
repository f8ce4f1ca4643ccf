// ONNX session creation and running, in one place: used by the session worker thread (worker.js)
// and by the direct loader (direct.ts). Plain JavaScript so that it runs in a worker thread under
// any loader without a TypeScript hook; types in session.d.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { diagnoseCuda, feedTensor, sessionOptions } from './quirks.js';

/** Streams a file through SHA-256 (model weights can be gigabytes). */
export async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

function metadataOf(values) {
  return values.map((v) =>
    v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: 'non-tensor', shape: [] },
  );
}

/**
 * Verifies every file of a graph against its expected SHA-256, then creates the session from the
 * graph's path (so ONNX external-data files beside it are found). A CUDA session that cannot be
 * created rejects with an ExecutionProviderError naming the cause (quirks.js), or, only with
 * `cpuFallback` (default: MODEL_CPU_FALLBACK=1), becomes a CPU session with a warning; `provider`
 * says which one runs.
 * @param {{ path: string, files: { path: string, sha256: string, field: string }[], provider: 'cpu'|'cuda', intraOpThreads: number, cpuFallback?: boolean }} graph
 */
export async function createSession(graph) {
  for (const f of graph.files) {
    const sha = await sha256File(f.path).catch((e) => {
      throw new Error(`cannot read ${f.path} (${f.field}): ${e.message}`);
    });
    if (sha !== f.sha256) throw new Error(`${f.path}: SHA-256 ${sha} does not match config.json ${f.field} ${f.sha256}`);
  }
  let session;
  let provider = graph.provider;
  try {
    session = await InferenceSession.create(graph.path, sessionOptions(graph.provider, graph.intraOpThreads));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (graph.provider !== 'cuda') throw new Error(`cannot create a ${graph.provider} session for ${graph.path}: ${message}`);
    const cause = diagnoseCuda(message);
    cause.message = `cannot create a cuda session for ${graph.path}: ${cause.message}`;
    if (!(graph.cpuFallback ?? process.env.MODEL_CPU_FALLBACK === '1')) throw cause;
    // configured fallback only: said loudly, and reported with the session
    process.emitWarning(`${cause.message}; running on the CPU instead (MODEL_CPU_FALLBACK=1)`, { code: 'ONEFLOW_CPU_FALLBACK' });
    provider = 'cpu';
    session = await InferenceSession.create(graph.path, sessionOptions('cpu', graph.intraOpThreads));
  }
  return { session, provider, inputs: metadataOf(session.inputMetadata), outputs: metadataOf(session.outputMetadata) };
}

/**
 * Runs a session on named tensors `{ type, data, dims }` and returns its outputs with their own
 * (transferable) buffers and the time inside `run`.
 */
export async function runSession(session, inputs) {
  const feeds = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = feedTensor(Tensor, t.type ?? 'float32', t.data, t.dims);
  const t0 = performance.now();
  const results = await session.run(feeds);
  const ms = performance.now() - t0;
  const outputs = {};
  for (const [name, tensor] of Object.entries(results)) {
    let data = tensor.data;
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
    outputs[name] = { type: tensor.type, data, dims: tensor.dims };
  }
  return { outputs, ms };
}
