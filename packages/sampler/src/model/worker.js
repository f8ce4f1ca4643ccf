// Model worker thread: one onnxruntime-node session, loaded once from bytes whose SHA-256 is
// checked against config.json before the session is created. Plain JavaScript so that it runs in
// a worker thread under any loader (tsx, Vitest, plain node) without a TypeScript hook.
// Protocol (see runner.ts): {type:'init', path, sha256, intraOpThreads, executionProvider}
// → {type:'ready', inputNames, outputNames} | {type:'error', message};
// {type:'run', id, inputs} → {type:'result', id, outputs, ms} | {type:'error', id, message}.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';

let session;

async function init(msg) {
  const bytes = await readFile(msg.path);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== msg.sha256) throw new Error(`model ${msg.path}: SHA-256 ${sha} does not match config.json onnx_sha256 ${msg.sha256}`);
  session = await InferenceSession.create(bytes, {
    executionProviders: [msg.executionProvider],
    intraOpNumThreads: msg.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  return { type: 'ready', inputNames: session.inputNames, outputNames: session.outputNames };
}

async function run(msg) {
  const feeds = {};
  for (const [name, t] of Object.entries(msg.inputs)) feeds[name] = new Tensor(t.type, t.data, t.dims);
  const t0 = performance.now();
  const results = await session.run(feeds);
  const ms = performance.now() - t0;
  const outputs = {};
  const transfer = [];
  for (const [name, tensor] of Object.entries(results)) {
    let data = tensor.data;
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
    outputs[name] = { data, dims: tensor.dims };
    transfer.push(data.buffer);
  }
  return [{ type: 'result', id: msg.id, outputs, ms }, transfer];
}

parentPort.on('message', (msg) => {
  const reply = msg.type === 'init' ? init(msg).then((r) => [r, []]) : run(msg);
  reply.then(
    ([r, transfer]) => parentPort.postMessage(r, transfer),
    (e) => parentPort.postMessage({ type: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e) }),
  );
});
