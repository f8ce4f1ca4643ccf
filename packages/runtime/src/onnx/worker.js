// Session worker thread: one ONNX Runtime session, created once (files hash-checked first), then
// runs on request. ONNX Runtime's `run` blocks its thread; here it blocks this one, never the
// event loop of the process. Protocol (pool.ts):
//   {type:'init', graph} → {type:'ready', inputs, outputs} | {type:'error', message, provider?}
//   {type:'run', id, inputs} → {type:'result', id, outputs, ms} | {type:'error', id, message}
import { parentPort } from 'node:worker_threads';
import { ExecutionProviderError } from './quirks.js';
import { createSession, runSession } from './session.js';

let session;

parentPort.on('message', (msg) => {
  const reply =
    msg.type === 'init'
      ? createSession(msg.graph).then((r) => {
          session = r.session;
          return [{ type: 'ready', inputs: r.inputs, outputs: r.outputs }, []];
        })
      : runSession(session, msg.inputs).then(({ outputs, ms }) => [
          { type: 'result', id: msg.id, outputs, ms },
          Object.values(outputs).map((t) => t.data.buffer),
        ]);
  reply.then(
    ([r, transfer]) => parentPort.postMessage(r, transfer),
    (e) =>
      parentPort.postMessage({
        type: 'error',
        id: msg.id,
        message: e instanceof Error ? e.message : String(e),
        // a typed provider failure crosses the thread as its fields (pool.ts rebuilds it)
        ...(e instanceof ExecutionProviderError ? { provider: { provider: e.provider, reason: e.reason, missing: e.missing } } : {}),
      }),
  );
});
