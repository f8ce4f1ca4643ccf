/**
 * The device check (bench/gpu/device.sh runs it on the GPU machine; `--provider cpu` rehearses it
 * here): the CUDA execution provider against the CPU one on the tiny v2 golden vectors, then for
 * each model directory forward time vs batch, estimated MFU, GPU memory, throughput vs concurrency
 * through ModelRunner, host share per step, and batch invariance. Writes --out (bench/results/gpu.json).
 *
 *   node --import tsx bench/gpu/bench.ts --provider cpu --models DIR[,DIR…] [--batches 1,2,4,8,16] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { guidanceRows, initState, isDone, latentSize, step, stepOutputsOf } from '@oneflow/sampler';
import { type ExecutionProvider, ModelRunner, describeModelDir, pack, toGraphInputs, type ModelInfo } from '@oneflow/runtime';
import { loadOnnxModel } from '@oneflow/runtime/onnx';
import { type GoldenFile, f32, tensor } from '@oneflow/sampler/testing';

const { values } = parseArgs({
  options: {
    provider: { type: 'string', default: 'cuda' },
    models: { type: 'string', default: '' },
    golden: { type: 'string', default: 'packages/runtime/fixtures/tiny-v2' },
    batches: { type: 'string', default: '1,2,4,8,16' },
    concurrency: { type: 'string', default: '1,4,16' },
    tokens: { type: 'string', default: '512' },
    repeat: { type: 'string', default: '3' },
    // dense peaks of the H200 (vendor datasheet; KINDS.md measured 790 TFLOP/s bf16): float16 on
    // tensor cores, float32 as TF32 on tensor cores (onnxruntime's CUDA default)
    'peak-tflops': { type: 'string', default: 'float16=990,float32=495' },
    out: { type: 'string', default: 'bench/results/gpu.json' },
  },
});
const provider = values.provider as ExecutionProvider;
const list = (s: string) => s.split(',').filter(Boolean).map(Number);
const peaks: Record<string, number> = Object.fromEntries(
  values['peak-tflops'].split(',').map((kv): [string, number] => [kv.split('=')[0]!, Number(kv.split('=')[1])]),
);
const log = (s: string) => process.stderr.write(`${s}\n`);
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** GPU memory in use (MiB) by nvidia-smi; null without one (the CPU rehearsal). */
function gpuMemoryMiB(): number | null {
  try {
    return Number(
      execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' }).split('\n')[0],
    );
  } catch {
    return null;
  }
}

// 1. CUDA vs CPU on the golden forward batch of the tiny v2 model (and against Python's outputs)
async function golden() {
  const dir = path.resolve(values.golden);
  const g = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8')) as GoldenFile;
  const info = await describeModelDir(dir);
  const run = async (p: ExecutionProvider) => {
    const m = await loadOnnxModel(info.graphs.model.path, { executionProvider: p });
    try {
      const outs = [];
      for (const f of g.forward) {
        const inputs = Object.fromEntries(Object.entries(f.inputs).map(([k, a]) => [k, tensor(a)])) as ReturnType<typeof pack>;
        outs.push(await m.run(toGraphInputs(inputs, info.dtype)));
      }
      return outs;
    } finally {
      await m.release();
    }
  };
  const [cpu, dev] = [await run('cpu'), await run(provider)];
  // maximum over every output of every golden batch, padded positions included
  let vsCpu = 0;
  let vsPython = 0;
  g.forward.forEach((f, i) => {
    for (const name of Object.keys(f.outputs)) {
      vsCpu = Math.max(vsCpu, maxAbs(cpu[i]![name]!.data, dev[i]![name]!.data));
      vsPython = Math.max(vsPython, maxAbs(f32(f.outputs[name]!), dev[i]![name]!.data));
    }
  });
  log(`golden: ${provider} vs cpu max|Δ| ${vsCpu.toExponential(2)}, vs Python ${vsPython.toExponential(2)}`);
  return { model: values.golden, maxAbsVsCpu: vsCpu, maxAbsVsPython: vsPython, within1e4: vsPython < 1e-4 };
}

/** FLOPs of one row (matrix products of the transformer and heads; the conv path and softmax left out). */
function rowFlops(info: ModelInfo, textTokens: number, images: number): number | null {
  const m = (info.config['scale'] as { model?: { d_model: number; n_layers: number; d_ff: number } } | undefined)?.model;
  if (!m) return null;
  const S = textTokens + 256 * images;
  const perLayer = 2 * S * (4 * m.d_model * m.d_model + 2 * m.d_model * m.d_ff) + 4 * S * S * m.d_model;
  return m.n_layers * perLayer + 2 * textTokens * m.d_model * info.spec.vocabSize;
}

function longRow(info: ModelInfo, tokens: number, salt = 0) {
  const ids = [
    info.spec.bos,
    ...Array.from({ length: tokens - 3 }, (_, i) => 4 + ((i + salt) % (info.spec.vocabSize - 4))),
    info.spec.sep,
    info.spec.image,
  ];
  const latent = Float32Array.from({ length: latentSize(info.spec) }, (_, i) => Math.sin(i + salt));
  return { spec: info.spec, tokens: ids, images: [{ latent, t: 0.5 }] };
}

// 2. one model directory: forward vs batch, MFU, memory, concurrency, host share, batch invariance
async function measure(dir: string) {
  const info = await describeModelDir(path.resolve(dir));
  const scale = (info.config['scale'] ?? {}) as { size?: string; parameters?: number };
  const tokens = Number(values.tokens);
  const row = longRow(info, tokens);
  const flops = rowFlops(info, tokens, 1);
  const memBefore = gpuMemoryMiB();
  const onnx = await loadOnnxModel(info.graphs.model.path, { executionProvider: provider });
  const forward = [];
  let memPeak = memBefore;
  try {
    await onnx.run(toGraphInputs(pack([row]), info.dtype));
    for (const b of list(values.batches)) {
      const batch = Array.from({ length: b }, () => row);
      let best = Infinity;
      for (let r = 0; r < Number(values.repeat); r++) {
        const inputs = toGraphInputs(pack(batch), info.dtype);
        const t0 = performance.now();
        await onnx.run(inputs);
        best = Math.min(best, performance.now() - t0);
      }
      const mem = gpuMemoryMiB();
      if (mem !== null) memPeak = Math.max(memPeak ?? 0, mem);
      const tflops = flops === null ? null : (flops * b) / (best / 1000) / 1e12;
      forward.push({
        batch: b,
        ms: Number(best.toFixed(2)),
        msPerRow: Number((best / b).toFixed(2)),
        tflops: tflops === null ? null : Number(tflops.toFixed(2)),
        mfu: tflops === null || provider === 'cpu' ? null : Number((tflops / peaks[info.dtype]!).toFixed(4)),
      });
      log(`${scale.size ?? dir} ${info.dtype} B=${b}: ${best.toFixed(1)} ms`);
    }
  } finally {
    await onnx.release();
  }

  const runner = await ModelRunner.start(info, { executionProvider: provider });
  try {
    // throughput vs concurrency: C callers, 2 forwards of one row each
    await runner.forward([row]);
    const concurrency = [];
    for (const c of list(values.concurrency)) {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          for (let k = 0; k < 2; k++) await runner.forward([row]);
        }),
      );
      const ms = performance.now() - t0;
      concurrency.push({ concurrency: c, rowsPerSecond: Number(((2 * c * 1000) / ms).toFixed(2)) });
    }
    // host share: pack + unpack + sampler step vs the forward pass, over a guided generation's steps
    let s = initState(info.tokenizer.prompt('draw a red square'), { ...info.defaults, steps: 4 }, info.spec, 3);
    let modelMs = 0;
    let hostMs = 0;
    while (!isDone(s)) {
      const t0 = performance.now();
      const batch = guidanceRows(s);
      const outs = await runner.forward(batch);
      const t1 = performance.now();
      s = step(s, stepOutputsOf(s, outs));
      hostMs += performance.now() - t1;
      modelMs += t1 - t0;
    }
    const stats = runner.stats;
    // batch invariance: one row alone vs the same row among three others of its padded shape
    const [alone] = await runner.forward([row]);
    const others = [1, 2, 3].map((k) => longRow(info, tokens, k));
    const [among] = await Promise.all([runner.forward([row]), runner.forward(others)]).then(([a]) => a);
    const invariance = {
      maxAbsVelocity: maxAbs(alone!.velocity, among!.velocity),
      maxAbsQ: maxAbs(alone!.qLogprobs, among!.qLogprobs),
      identical: maxAbs(alone!.velocity, among!.velocity) === 0 && maxAbs(alone!.qLogprobs, among!.qLogprobs) === 0,
    };
    return {
      model: dir,
      size: scale.size ?? null,
      parameters: scale.parameters ?? null,
      dtype: info.dtype,
      flopsPerRow: flops,
      forward,
      gpuMemoryMiB: { before: memBefore, peak: memPeak },
      concurrency,
      host: {
        modelMs: Number(modelMs.toFixed(1)),
        hostMs: Number(hostMs.toFixed(2)),
        hostShare: Number((hostMs / modelMs).toFixed(4)),
        packMs: Number(stats.packMs.toFixed(1)),
      },
      batchInvariance: invariance,
    };
  } finally {
    await runner.close();
  }
}

const report: Record<string, unknown> = {
  question: `${provider} execution provider: golden vectors, forward vs batch, MFU, memory, concurrency, host share, batch invariance`,
  command: 'bench/gpu/device.sh (on the GPU machine) or node --import tsx bench/gpu/bench.ts --provider cpu (rehearsal)',
  provider,
  gpu: (() => {
    try {
      return execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], {
        encoding: 'utf8',
      }).trim();
    } catch {
      return null;
    }
  })(),
  golden: await golden(),
  models: [] as unknown[],
};
for (const dir of values.models.split(',').filter(Boolean)) (report.models as unknown[]).push(await measure(dir));
report.machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: loadavg() };
report.measuredAt = new Date().toISOString();
await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${values.out}`);
