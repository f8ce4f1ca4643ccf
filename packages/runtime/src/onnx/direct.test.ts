import { describe, expect, it } from 'vitest';
import { fixturesDir } from '@oneflow/sampler/testing';
import { loadOnnxModel } from './direct.js';

const tiny = fixturesDir + 'tiny.onnx';

describe('onnxruntime-node (CPU build from the npm package)', () => {
  it('loads a tiny model and computes y = 2x + 1 with a dynamic batch', async () => {
    const model = await loadOnnxModel(tiny);
    expect(model.inputNames).toEqual(['x']);
    expect(model.outputNames).toEqual(['y']);
    const x = Float32Array.from([0, 1, 2, 3, -1, -0.5, 10, 100]);
    const { y } = await model.run({ x: { data: x, dims: [2, 4] } });
    expect(y?.dims).toEqual([2, 4]);
    expect(Array.from(y?.data ?? [])).toEqual([1, 3, 5, 7, -1, 0, 21, 201]);
    await model.release();
  });

  it('rejects an input of the wrong shape with a message naming it', async () => {
    const model = await loadOnnxModel(tiny);
    await expect(model.run({ x: { data: new Float32Array(3), dims: [1, 3] } })).rejects.toThrow(/x|dimension|shape/i);
    await model.release();
  });
});
