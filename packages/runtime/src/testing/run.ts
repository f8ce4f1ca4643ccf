import type { StateOutputs } from '@oneflow/sampler';
import { type BatchRow, pack, unpack } from '../oneflow-io.js';
import { loadOnnxModel } from '../onnx/direct.js';

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
