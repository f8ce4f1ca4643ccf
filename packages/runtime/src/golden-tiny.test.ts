import { describe, expect, it } from 'vitest';
import { RecordedDraws, guidanceRows, isDone, step, stepOutputsOf } from '@oneflow/sampler';
import { f32, f64, fixturesDir, loadGolden, paramsOf, plainGolden, specOf, stateOf } from '@oneflow/sampler/testing';
import { batchRun } from './testing/run.js';

const golden = loadGolden();
const spec = specOf(golden);

describe('a whole guided generation with the tiny model (onnxruntime-node, recorded draws)', () => {
  it('reproduces the reference tokens exactly and the latents within float rounding', async () => {
    const params = paramsOf(golden.run.params);
    let s = stateOf(golden.run.initial, spec, params);
    const draws = new RecordedDraws(f64(golden.run.uniforms), f32(golden.run.normals));
    await batchRun(fixturesDir + 'tiny-model/model.onnx', async (forward) => {
      while (!isDone(s)) {
        s = step(s, stepOutputsOf(s, await forward(guidanceRows(s))), params, draws);
      }
    });
    const want = plainGolden(golden.run.final);
    expect(s.tokens).toEqual(want.tokens);
    expect(draws.used).toEqual([golden.run.uniforms.shape[0], golden.run.normals.shape[0]]);
    expect(s.images.map((im) => im.t)).toEqual(want.images.map((im) => im.t));
    let maxDiff = 0;
    s.images.forEach((im, j) => im.latent.forEach((x, e) => (maxDiff = Math.max(maxDiff, Math.abs(x - want.images[j]!.latent[e]!)))));
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
