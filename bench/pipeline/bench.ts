/**
 * Pipeline benchmark (issue 5): one generation through Temporal (workflow → `advance` activities
 * on a real worker process, a checkpoint stored after every step) vs the in-process sampler loop
 * that `oneflow generate` runs, same model, prompt and seed, one run each, on this machine. For
 * each steps-per-activity k it reports the wall-time ratio; the smallest k within the target is
 * the worker's default. Writes bench/results/pipeline.json.
 *
 *   node --import tsx bench/pipeline/bench.ts [--model DIR] [--steps 64] [--k 1,4,16,64] [--out FILE]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { CPU_TASK_QUEUE, WORKFLOWS, type GenerationRequest, type GenerationResult, type GenerationWorkflowInput } from '@oneflow/contracts';
import { freePort, REPO_ROOT, startTemporalDev, startWorkerProcess, stopTemporalDev } from '@oneflow/devstack';
import { initState, runGeneration } from '@oneflow/sampler';
import { describeModelDir, ModelRunner } from '@oneflow/runtime';
import { benchModelDir, log, resultPath, writeReport } from '../report.js';

const TARGET_RATIO = 1.15;
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    steps: { type: 'string', default: '64' },
    k: { type: 'string', default: '1,4,16,64' },
    prompt: { type: 'string', default: 'count from two to five' },
    seed: { type: 'string', default: '7' },
    out: { type: 'string', default: resultPath('pipeline') },
  },
});
const modelDir = benchModelDir(values.model);
const steps = Number(values.steps);
const seed = Number(values.seed);
const ks = values.k.split(',').map(Number);

async function inProcess(): Promise<{ ms: number; steps: number; text: string }> {
  const model = await describeModelDir(modelDir);
  const runner = await ModelRunner.start(model);
  try {
    const tokenizer = model.tokenizer;
    const init = () => initState(tokenizer.prompt(values.prompt), { ...model.defaults, steps }, model.spec, seed);
    await runGeneration(runner, init(), { maxSteps: 4 }); // warm-up
    const t0 = performance.now();
    const { state } = await runGeneration(runner, init());
    const ms = performance.now() - t0;
    return { ms, steps: state.step, text: tokenizer.decode(state.tokens.slice(state.promptLen)) };
  } finally {
    await runner.close();
  }
}

async function main(): Promise<void> {
  log(`model ${modelDir}, ${steps} steps, k ∈ {${ks.join(', ')}}`);
  const reference = await inProcess();
  log(`in-process: ${reference.ms.toFixed(0)} ms for ${reference.steps} steps`);

  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-bench-pipeline-'));
  const server = await startTemporalDev({ dataDir: dir, port: await freePort(), uiPort: null, persist: false });
  const worker = await startWorkerProcess({ address: server.address, namespace: 'default', dataDir: dir, models: [modelDir] }).catch(
    async (e: unknown) => {
      await stopTemporalDev(dir);
      throw e;
    },
  );
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const request: GenerationRequest = {
    model: path.basename(modelDir) === 'tiny-model' ? 'tiny-model' : (await describeModelDir(modelDir)).spec.name,
    prompt: values.prompt,
    seed,
    steps,
  };
  const run = async (k: number) => {
    const generationId = `bench-${randomUUID()}`;
    const t0 = performance.now();
    const result = (await client.workflow.execute(WORKFLOWS.generation, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: generationId,
      args: [{ generationId, root: { kind: 'new', request }, stepsPerActivity: k } satisfies GenerationWorkflowInput],
    })) as GenerationResult;
    return { ms: performance.now() - t0, result };
  };
  try {
    await run(Math.max(...ks)); // warm-up: workflow bundle, sessions, sticky queues
    const rows = [];
    for (const k of ks) {
      const { ms, result } = await run(k);
      if (result.final.text !== reference.text || result.final.step !== reference.steps) {
        throw new Error(
          `k=${k}: the Temporal generation differs from the in-process one (${result.final.step} steps: "${result.final.text}")`,
        );
      }
      const ratio = ms / reference.ms;
      rows.push({ stepsPerActivity: k, activities: result.timings.activities, ms: Math.round(ms), ratio: Number(ratio.toFixed(3)) });
      log(`k=${k}: ${ms.toFixed(0)} ms, ${ratio.toFixed(2)}× in-process`);
    }
    const within = rows.filter((r) => r.ratio <= TARGET_RATIO);
    const chosen = (within.length > 0 ? within : [...rows].sort((a, b) => a.ratio - b.ratio))
      .map((r) => r.stepsPerActivity)
      .sort((a, b) => a - b)[0];
    await writeReport(values.out, {
      question: 'wall time of one generation through Temporal (checkpoint every step) vs the in-process loop',
      command: 'node --import tsx bench/pipeline/bench.ts',
      model: path.relative(REPO_ROOT, modelDir),
      prompt: values.prompt,
      seed,
      samplerSteps: steps,
      stepsTaken: reference.steps,
      inProcessMs: Math.round(reference.ms),
      temporal: rows,
      targetRatio: TARGET_RATIO,
      chosenStepsPerActivity: chosen,
    });
  } finally {
    await worker.stop();
    await connection.close();
    await stopTemporalDev(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
