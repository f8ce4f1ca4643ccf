/**
 * The serving path at model scale (training.scale_model): forward time vs batch, host share per
 * step, micro-batcher throughput vs concurrency, and one generation through Temporal at 1 step
 * per activity, at the fixed default (32) and adaptive (minActivityMs) vs the in-process loop.
 * Each part is written under its model's size in bench/results/scale.json (parts merge into it).
 *
 *   /usr/bin/python3 -m training.scale_model --size 100m --out .oneflow/scale/100m-fp32
 *   node --import tsx bench/scale/bench.ts --model .oneflow/scale/100m-fp32 --parts forward,host,batcher,pipeline
 *
 * Options: --batches 1,2,4,8,16  --concurrency 1,2,4,8  --tokens 512 (text positions of the forward
 * rows, one image each)  --steps 4 (sampler steps per clock of the generations)  --min-activity-ms 2000
 * --provider cpu|cuda  --intra 1  --out FILE. Guidance is off in the batcher and pipeline parts (one
 * row per step), so a step is one forward pass of the model.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import {
  CPU_TASK_QUEUE,
  DEFAULT_MIN_ACTIVITY_MS,
  DEFAULT_STEPS_PER_ACTIVITY,
  WORKFLOWS,
  type GenerationRequest,
  type GenerationResult,
  type GenerationWorkflowInput,
} from '@oneflow/contracts';
import { freePort, REPO_ROOT, startTemporalDev, startWorkerProcess, stopTemporalDev } from '@oneflow/devstack';
import { type SamplerState, guidanceRows, initState, isDone, latentSize, runGeneration, step, stepOutputsOf } from '@oneflow/sampler';
import { type ExecutionProvider, ModelRunner, describeModelDir, pack, toGraphInputs, unpack } from '@oneflow/runtime';
import { loadOnnxModel } from '@oneflow/runtime/onnx';
import { log, machine, resultPath } from '../report.js';
import { writeFile } from 'node:fs/promises';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    parts: { type: 'string', default: 'forward,host,batcher,pipeline' },
    batches: { type: 'string', default: '1,2,4,8,16' },
    concurrency: { type: 'string', default: '1,2,4,8' },
    tokens: { type: 'string', default: '512' },
    steps: { type: 'string', default: '4' },
    'min-activity-ms': { type: 'string', default: String(DEFAULT_MIN_ACTIVITY_MS) },
    provider: { type: 'string', default: 'cpu' },
    intra: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    out: { type: 'string', default: resultPath('scale') },
  },
});
if (!values.model) throw new Error('--model DIR is required (a directory written by training.scale_model)');
const modelDir = path.resolve(values.model);
const parts = values.parts.split(',');
const list = (s: string) => s.split(',').map(Number);
const provider = values.provider as ExecutionProvider;
const intra = Number(values.intra);
const steps = Number(values.steps);
const minActivityMs = Number(values['min-activity-ms']);
const model = await describeModelDir(modelDir);
const scale = (model.config['scale'] ?? {}) as { size?: string; parameters?: number };
const sizeKey = `${scale.size ?? path.basename(modelDir)}-${model.dtype}-${provider}`;
const PROMPT = 'draw a red square and name its colour';

/** A row at `tokens` text positions with one half-denoised image (the shape a long generation reaches). */
function longRow(tokens: number) {
  const ids = [model.spec.bos, ...Array.from({ length: tokens - 3 }, (_, i) => 4 + (i % (model.spec.vocabSize - 4))), model.spec.sep];
  ids.push(model.spec.image);
  const latent = Float32Array.from({ length: latentSize(model.spec) }, (_, i) => Math.sin(i));
  return { spec: model.spec, tokens: ids, images: [{ latent, t: 0.5 }] };
}
const fresh = (k: number, guided: boolean): SamplerState =>
  initState(
    model.tokenizer.prompt(PROMPT),
    { ...model.defaults, steps, ...(guided ? {} : { guidance: 1, imageGuidance: 1 }) },
    model.spec,
    k,
  );

// 1. forward time vs batch, one session on this thread (no worker hop), rows of `tokens` + 1 image
async function forward() {
  const onnx = await loadOnnxModel(model.graphs.model.path, { intraOpThreads: intra, executionProvider: provider });
  const row = longRow(Number(values.tokens));
  const rows = [];
  try {
    await onnx.run(toGraphInputs(pack([row, row]), model.dtype)); // warm-up
    for (const b of list(values.batches)) {
      const batch = Array.from({ length: b }, () => row);
      let best = Infinity;
      for (let r = 0; r < Number(values.repeat); r++) {
        const inputs = toGraphInputs(pack(batch), model.dtype);
        const t0 = performance.now();
        await onnx.run(inputs);
        best = Math.min(best, performance.now() - t0);
      }
      rows.push({ batch: b, ms: Math.round(best), msPerRow: Math.round(best / b) });
      log(`forward B=${b}: ${best.toFixed(0)} ms (${(best / b).toFixed(0)} ms/row)`);
    }
  } finally {
    await onnx.release();
  }
  return { textTokens: Number(values.tokens), imageTokens: 256, rows };
}

// 2. host share per step of one guided generation (pack + unpack + sampler step vs session.run)
async function host() {
  const onnx = await loadOnnxModel(model.graphs.model.path, { intraOpThreads: intra, executionProvider: provider });
  let modelMs = 0;
  let hostMs = 0;
  let n = 0;
  let s = fresh(0, true);
  try {
    while (!isDone(s)) {
      const t0 = performance.now();
      const batch = guidanceRows(s);
      const inputs = toGraphInputs(pack(batch), model.dtype);
      const t1 = performance.now();
      const out = await onnx.run(inputs);
      const t2 = performance.now();
      s = step(s, stepOutputsOf(s, unpack(out, batch)));
      const t3 = performance.now();
      if (n > 0) {
        // the first step warms the session and the JIT up
        modelMs += t2 - t1;
        hostMs += t1 - t0 + (t3 - t2);
      }
      n++;
    }
  } finally {
    await onnx.release();
  }
  const r = {
    steps: n,
    finalTokens: s.tokens.length,
    finalImages: s.images.length,
    modelMsPerStep: modelMs / (n - 1),
    hostMsPerStep: hostMs / (n - 1),
  };
  log(`host: ${r.hostMsPerStep.toFixed(1)} ms host vs ${r.modelMsPerStep.toFixed(0)} ms model per step`);
  return { ...r, hostShare: Number((hostMs / modelMs).toFixed(4)) };
}

// 3. throughput through ModelRunner's micro-batcher: C callers, each sending 2 forward passes of a
//    long row one after the other (the shape of concurrent generations late in their run)
async function batcher() {
  const runner = await ModelRunner.start(model, { threads: 1, intraOpThreads: intra, executionProvider: provider });
  const row = longRow(Number(values.tokens));
  const rows = [];
  try {
    await runner.forward([row]);
    for (const c of list(values.concurrency)) {
      const before = { ...runner.stats };
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          for (let k = 0; k < 2; k++) await runner.forward([row]);
        }),
      );
      const ms = performance.now() - t0;
      const batches = runner.stats.batches - before.batches;
      rows.push({
        concurrency: c,
        rows: 2 * c,
        ms: Math.round(ms),
        rowsPerSecond: Number(((2 * c * 1000) / ms).toFixed(3)),
        meanBatch: Number(((runner.stats.rows - before.rows) / batches).toFixed(2)),
      });
      log(`batcher C=${c}: ${((2 * c * 1000) / ms).toFixed(2)} rows/s`);
    }
  } finally {
    await runner.close();
  }
  const base = rows[0]!.rowsPerSecond;
  return rows.map((r) => ({ ...r, speedup: Number((r.rowsPerSecond / base).toFixed(2)) }));
}

// 4. one generation through Temporal (a real worker process) vs the in-process loop
async function pipeline() {
  const runner = await ModelRunner.start(model, { executionProvider: provider });
  let reference: { ms: number; steps: number; modelMs: number };
  try {
    await runGeneration(runner, fresh(7, false), { maxSteps: 2 }); // warm-up
    const t0 = performance.now();
    const { state, timings } = await runGeneration(runner, fresh(7, false));
    reference = { ms: performance.now() - t0, steps: state.step, modelMs: timings.modelMs };
  } finally {
    await runner.close();
  }
  log(`in-process: ${reference.ms.toFixed(0)} ms for ${reference.steps} steps`);
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-bench-scale-'));
  const server = await startTemporalDev({ dataDir: dir, port: await freePort(), uiPort: null, persist: false });
  const worker = await startWorkerProcess({
    address: server.address,
    namespace: 'default',
    dataDir: dir,
    models: [modelDir],
    env: { MODEL_EXECUTION_PROVIDER: provider },
  }).catch(async (e: unknown) => {
    await stopTemporalDev(dir);
    throw e;
  });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const request: GenerationRequest = { model: model.spec.name, prompt: PROMPT, seed: 7, steps, guidance: 1, imageGuidance: 1 };
  const run = async (label: string, input: Pick<GenerationWorkflowInput, 'stepsPerActivity' | 'minActivityMs'>) => {
    const generationId = `bench-${randomUUID()}`;
    const t0 = performance.now();
    const result = (await client.workflow.execute(WORKFLOWS.generation, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: generationId,
      args: [{ generationId, root: { kind: 'new', request }, ...input } satisfies GenerationWorkflowInput],
    })) as GenerationResult;
    const ms = performance.now() - t0;
    if (result.final.step !== reference.steps) throw new Error(`${label}: ${result.final.step} steps, in-process ${reference.steps}`);
    const row = {
      label,
      ...input,
      activities: result.timings.activities,
      ms: Math.round(ms),
      ratio: Number((ms / reference.ms).toFixed(3)),
    };
    log(`${label}: ${ms.toFixed(0)} ms, ${row.ratio}× in-process, ${row.activities} activities`);
    return row;
  };
  try {
    await run('warm-up', { stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY });
    const rows = [
      await run('1 step per activity', { stepsPerActivity: 1 }),
      await run(`fixed ${DEFAULT_STEPS_PER_ACTIVITY}`, { stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY }),
      await run(`adaptive ${minActivityMs} ms`, { stepsPerActivity: 1, minActivityMs }),
    ];
    return {
      samplerSteps: steps,
      stepsTaken: reference.steps,
      inProcessMs: Math.round(reference.ms),
      msPerStep: Math.round(reference.ms / reference.steps),
      temporal: rows,
    };
  } finally {
    await worker.stop();
    await connection.close();
    await stopTemporalDev(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

const PARTS = { forward, host, batcher, pipeline } satisfies Record<string, () => Promise<unknown>>;
const measured: Record<string, object> = {};
for (const p of parts) {
  if (!(p in PARTS)) throw new Error(`unknown part ${p}; known: ${Object.keys(PARTS).join(', ')}`);
  log(`${sizeKey}: ${p}`);
  measured[p] = await PARTS[p as keyof typeof PARTS]();
}

// merge into the result file: one entry per model size, dtype and provider; parts replace their own
const previous = existsSync(values.out)
  ? (JSON.parse(readFileSync(values.out, 'utf8')) as { results?: Record<string, Record<string, unknown>> })
  : {};
const results = previous.results ?? {};
const entry = results[sizeKey] ?? {};
for (const [p, r] of Object.entries(measured))
  entry[p] = {
    ...(Array.isArray(r) ? { rows: r } : r),
    machine: machine(),
    measuredAt: new Date().toISOString(),
  };
results[sizeKey] = {
  ...entry,
  model: path.relative(REPO_ROOT, modelDir),
  parameters: scale.parameters ?? null,
  dtype: model.dtype,
  provider,
  intraOpThreads: intra,
};
await writeFile(
  values.out,
  `${JSON.stringify({ question: 'the serving path at model scale (bench/scale/bench.ts)', command: 'node --import tsx bench/scale/bench.ts --model DIR', results }, null, 2)}\n`,
);
log(`wrote ${path.relative(process.cwd(), values.out)}`);
