import type { StateOutputs } from '@oneflow/sampler';
import { MicroBatcher } from '../batcher.js';
import {
  type GraphRole,
  type ModelBackend,
  type ModelInfo,
  type RunnerOptions,
  type RunnerStats,
  type Shape3,
  graphSpec,
} from '../model.js';
import {
  type BatchRow,
  canonicalShape,
  checkGraph,
  expectedOneflowGraph,
  fromGraphOutputs,
  pack,
  toGraphInputs,
  unpack,
} from '../oneflow-io.js';
import { SessionPool } from '../onnx/pool.js';
import { kernelPathRows } from '../onnx/quirks.js';
import { floatOutput } from '../onnx/tensor.js';

const size = ([c, h, w]: Shape3) => c * h * w;

/**
 * The OneFlow ONNX graphs of a model directory (contract versions 1 and 2 run the same graphs;
 * only how the directory is described differs): the main graph behind a micro-batcher that
 * groups rows by padded shape, and the optional encoder and decoder behind their own.
 */
export async function openOneflowOnnx(info: ModelInfo, options: RunnerOptions, roles: readonly GraphRole[]): Promise<ModelBackend> {
  const provider = options.executionProvider ?? info.executionProvider;
  const intra = options.intraOpThreads ?? 1;
  const maxBatch = options.maxBatch ?? info.maxBatch ?? 16;
  const maxWaitMs = options.maxWaitMs ?? 0;
  const padMultiple = options.padMultiple ?? 8;
  const stats: RunnerStats = { batches: 0, rows: 0, modelMs: 0, packMs: 0 };
  const pools: SessionPool[] = [];
  const start = async (files: NonNullable<ModelInfo['graphs']['encoder']>, threads: number) => {
    const pool = await SessionPool.start(graphSpec(files, provider, intra), threads);
    pools.push(pool);
    return pool;
  };
  const closeAll = () => Promise.all(pools.map((p) => p.close()));

  try {
    let forward: MicroBatcher<BatchRow, StateOutputs> | undefined;
    if (roles.includes('model')) {
      const pool = await start(info.graphs.model, options.threads ?? 1);
      checkGraph(info.graphs.model.path, pool.metadata, expectedOneflowGraph(info.spec.vocabSize, info.latentShape, info.dtype));
      forward = new MicroBatcher<BatchRow, StateOutputs>(
        {
          keyOf: (row) => {
            const s = canonicalShape(row, padMultiple);
            return `${s.length}x${s.images}`;
          },
          capacity: () => pool.idle(),
          execute: (rows) => {
            const shape = canonicalShape(rows[0]!, padMultiple);
            const packed = kernelPathRows(rows, shape.images, rows[0]!.images.length);
            const t0 = performance.now();
            const inputs = toGraphInputs(pack(packed, shape), info.dtype);
            stats.packMs += performance.now() - t0;
            return pool.run(inputs).then(({ outputs, ms }) => {
              stats.modelMs += ms;
              stats.batches++;
              stats.rows += packed.length;
              const t1 = performance.now();
              const outs = unpack(fromGraphOutputs(outputs), packed);
              stats.packMs += performance.now() - t1;
              return outs.slice(0, rows.length);
            });
          },
        },
        { maxBatch, maxWaitMs },
      );
      pool.onCrash((e) => forward?.close(e));
    }
    const codec = async (role: 'encoder' | 'decoder', from: Shape3, to: Shape3) => {
      const files = info.graphs[role];
      if (!roles.includes(role) || files === undefined) return undefined;
      const pool = await start(files, 1);
      const [input, output] = role === 'encoder' ? ['pixels', 'latent'] : ['latent', 'pixels'];
      checkGraph(files.path, pool.metadata, {
        inputs: { [input]: { type: 'float32', shape: [null, ...from] } },
        outputs: { [output]: { type: 'float32', shape: [null, ...to] } },
      });
      const batcher = new MicroBatcher<Float32Array, Float32Array>(
        {
          keyOf: () => role,
          capacity: () => pool.idle(),
          execute: (rows) => {
            const n = size(from);
            const data = new Float32Array(rows.length * n);
            rows.forEach((r, i) => {
              if (r.length !== n) throw new RangeError(`${role} input ${i}: expected ${n} values [${from.join(', ')}], got ${r.length}`);
              data.set(r, i * n);
            });
            return pool.run({ [input]: { type: 'float32', data, dims: [rows.length, ...from] } }).then(({ outputs }) => {
              const raw = outputs[output];
              if (raw === undefined) throw new Error(`${files.path}: no output ${output}`);
              const out = floatOutput(output, raw).data;
              const m = size(to);
              return rows.map((_, i) => out.slice(i * m, (i + 1) * m));
            });
          },
        },
        { maxBatch, maxWaitMs: 0 },
      );
      pool.onCrash((e) => batcher.close(e));
      return batcher;
    };
    const encoder = await codec('encoder', info.imageShape, info.latentShape);
    const decoder = await codec('decoder', info.latentShape, info.imageShape);
    const clamp = (x: Float32Array) => x.map((v) => (Number.isNaN(v) ? v : Math.min(1, Math.max(-1, v))));
    return {
      stats,
      forward: (rows) => (forward ? forward.submit(rows) : Promise.reject(new Error(`${info.spec.name}: the main graph was not started`))),
      encode: (pixels) => (encoder ? encoder.submit(pixels) : identity(pixels, info, 'encoder')),
      decode: async (latents) => (decoder ? (await decoder.submit(latents)).map(clamp) : identity(latents, info, 'decoder')),
      async close() {
        const closed = new Error('model closed');
        forward?.close(closed);
        encoder?.close(closed);
        decoder?.close(closed);
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Without an autoencoder pixels are the latents; with one that was not started, using it is a bug. */
async function identity(x: readonly Float32Array[], info: ModelInfo, role: 'encoder' | 'decoder'): Promise<Float32Array[]> {
  if (info.graphs[role] !== undefined) throw new Error(`${info.spec.name}: the ${role} was not started`);
  return [...x];
}
