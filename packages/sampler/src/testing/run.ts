import { type BatchRow, pack, unpack } from '../batch.js';
import { loadOnnxModel } from '../model/onnx.js';
import type { StateOutputs } from '../step.js';

/** Runs `body` with an in-process forward function over one onnxruntime-node session (tests only). */
export async function batchRun(
  path: string,
  body: (forward: (rows: BatchRow[]) => Promise<StateOutputs[]>) => Promise<void>,
): Promise<void> {
  const model = await loadOnnxModel(path);
  try {
    await body(async (rows) => unpack(await model.run(pack(rows)), rows));
  } finally {
    await model.release();
  }
}
