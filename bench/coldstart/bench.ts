/**
 * Scale-to-zero cold start (issue 7): a generation is queued while no model worker runs (KEDA's
 * minReplicaCount: 0); a model worker process (WORKER_QUEUES=gpu) is then started, as a new pod
 * would be. Reports process start → "worker ready" (runtime, model load, sessions), start → the
 * generation finished, and the same generation on the warm worker; the difference is what a cold
 * start costs. One run each, on this machine (CPU). Writes bench/results/coldstart.json.
 *
 *   node --import tsx bench/coldstart/bench.ts [--model DIR] [--out FILE]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import {
  CPU_TASK_QUEUE,
  DEFAULT_STEPS_PER_ACTIVITY,
  WORKFLOWS,
  type GenerationResult,
  type GenerationWorkflowInput,
} from '@oneflow/contracts';
import { freePort, REPO_ROOT, startTemporalDev, startWorkerProcess, stopTemporalDev, type WorkerProcess } from '@oneflow/devstack';
import { describeModelDir } from '@oneflow/runtime';
import { benchModelDir, log, resultPath, writeReport } from '../report.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    out: { type: 'string', default: resultPath('coldstart') },
  },
});
const modelDir = benchModelDir(values.model);

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-bench-coldstart-'));
const server = await startTemporalDev({ dataDir: dir, port: await freePort(), uiPort: null, persist: false });
const workers: WorkerProcess[] = [];
const connection = await Connection.connect({ address: server.address });
try {
  const client = new Client({ connection });
  const model = (await describeModelDir(modelDir)).spec.name;
  const common = { address: server.address, namespace: 'default', dataDir: dir, models: [modelDir] };
  // Workflows always have a (small) worker; only the model workers scale to zero.
  workers.push(await startWorkerProcess({ ...common, env: { WORKER_QUEUES: 'cpu' } }));
  const generation = (seed: number) => {
    const generationId = `cold-${randomUUID()}`;
    return client.workflow.execute(WORKFLOWS.generation, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: generationId,
      args: [
        {
          generationId,
          root: { kind: 'new', request: { model, prompt: 'count from two to five', seed } },
          stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY,
        } satisfies GenerationWorkflowInput,
      ],
    }) as Promise<GenerationResult>;
  };

  const queued = generation(1); // waits on oneflow-gpu: no model worker yet
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  const cold = await startWorkerProcess({ ...common, env: { WORKER_QUEUES: 'gpu' } });
  workers.push(cold);
  const readyMs = performance.now() - t0;
  const coldResult = await queued;
  const coldTotalMs = performance.now() - t0;
  log(`cold: ready after ${readyMs.toFixed(0)} ms, generation done after ${coldTotalMs.toFixed(0)} ms (${coldResult.final.step} steps)`);

  const t1 = performance.now();
  const warmResult = await generation(1);
  const warmMs = performance.now() - t1;
  log(`warm: generation done after ${warmMs.toFixed(0)} ms (${warmResult.final.step} steps)`);

  await writeReport(values.out, {
    question: 'what a model worker started from zero costs before and during its first generation',
    command: 'node --import tsx bench/coldstart/bench.ts',
    model: path.relative(REPO_ROOT, modelDir),
    processToReadyMs: Math.round(readyMs),
    coldGenerationMs: Math.round(coldTotalMs),
    warmGenerationMs: Math.round(warmMs),
    coldStartOverheadMs: Math.round(coldTotalMs - warmMs),
    steps: warmResult.final.step,
    sameOutput: coldResult.final.text === warmResult.final.text,
  });
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await connection.close();
  await stopTemporalDev(dir);
  rmSync(dir, { recursive: true, force: true });
}
