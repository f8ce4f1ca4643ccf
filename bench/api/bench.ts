/**
 * Job API benchmark (issue 6): the API (in this process) in front of one real worker process and
 * a Temporal dev server of its own, driven through the SDK over HTTP.
 *   1. submit → first progress event: `--latency N` generations one at a time; for each, the time
 *      from `generations.create` to the first `watch` event, and to the first event of a step
 *      the model has run (step ≥ 1); p50 / p95.
 *   2. `--count 200` generations submitted at once (queued on the one worker) → all complete:
 *      every id created is read back `succeeded`, none lost; wall time and generations per second.
 * Cheap on purpose (few steps, the toy model) so it runs in minutes on 2 cores.
 * Writes bench/results/api.json.
 *
 *   node --import tsx bench/api/bench.ts [--model DIR] [--steps 4] [--latency 20] [--count 200] [--out FILE]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createApiServer, createJobDeps, createTemporalGateway, KeyRing } from '@oneflow/api';
import { DEFAULT_STEPS_PER_ACTIVITY } from '@oneflow/contracts';
import { freePort, REPO_ROOT, startTemporalDev, startWorkerProcess, stopTemporalDev } from '@oneflow/devstack';
import { describeModelDir } from '@oneflow/runtime';
import { createClient, FINAL_STATES, type Generation } from '@oneflow/sdk';
import { benchModelDir, log, quantile, resultPath, writeReport } from '../report.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    steps: { type: 'string', default: '4' },
    latency: { type: 'string', default: '20' },
    count: { type: 'string', default: '200' },
    prompt: { type: 'string', default: 'count from two to five' },
    out: { type: 'string', default: resultPath('api') },
  },
});
const modelDir = benchModelDir(values.model);
const steps = Number(values.steps);
const latencyRuns = Number(values.latency);
const count = Number(values.count);
const round = (x: number) => Math.round(x * 10) / 10;

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-bench-api-'));
const server = await startTemporalDev({ dataDir: dir, port: await freePort(), uiPort: null, persist: false });
const worker = await startWorkerProcess({ address: server.address, namespace: 'default', dataDir: dir, models: [modelDir] }).catch(
  async (e: unknown) => {
    await stopTemporalDev(dir);
    throw e;
  },
);
const temporal = createTemporalGateway(server.address, 'default');
const jobs = await createJobDeps({
  dataDir: dir,
  models: modelDir,
  stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY,
  ratePerMinute: 1_000_000,
});
const api = await createApiServer({
  inner: { temporal, version: 'bench', startedAt: Date.now(), jobs },
  host: '127.0.0.1',
  port: 0,
  logger: pino({ level: 'silent' }),
  keys: new KeyRing([]),
});
try {
  const client = createClient({ baseUrl: api.baseUrl });
  const model = (await describeModelDir(modelDir)).spec.name;
  const request = (seed: number) => ({ model, prompt: values.prompt, seed, steps });
  log(`model ${path.relative(REPO_ROOT, modelDir)}, ${steps} steps per clock; API ${api.baseUrl}`);

  // Warm-up: workflow bundle, model sessions, sticky queues, the API's first connection.
  await client.generations.wait((await client.generations.create(request(0))).id, { timeoutMs: 120_000 });

  // 1. submit → first progress event, one generation at a time (an idle worker).
  const firstEvent: number[] = [];
  const firstStep: number[] = [];
  for (let i = 0; i < latencyRuns; i++) {
    const t0 = performance.now();
    const g = await client.generations.create(request(1000 + i));
    let seenAny = false;
    for await (const e of client.generations.watch(g.id)) {
      if (!seenAny) {
        firstEvent.push(performance.now() - t0);
        seenAny = true;
      }
      if (e.step >= 1) {
        firstStep.push(performance.now() - t0);
        break;
      }
    }
    await client.generations.wait(g.id, { timeoutMs: 60_000 });
  }
  log(`first event p50 ${quantile(firstEvent, 0.5).toFixed(0)} ms, first step p50 ${quantile(firstStep, 0.5).toFixed(0)} ms`);

  // 2. `count` generations queued at once on the one worker → all complete, none lost.
  const t0 = performance.now();
  const ids: string[] = [];
  const submitters = Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; i < count; i += 8) ids.push((await client.generations.create(request(i))).id);
  });
  await Promise.all(submitters);
  const submitMs = performance.now() - t0;
  log(`submitted ${ids.length} in ${submitMs.toFixed(0)} ms`);
  const pending = new Set(ids);
  const final = new Map<string, Generation>();
  const deadline = Date.now() + 30 * 60_000;
  let maxInFlight = 0;
  while (pending.size > 0 && Date.now() < deadline) {
    // Visibility says which have closed; `get` (describe + checkpoint) confirms each one.
    let cursor: string | undefined;
    const closed: string[] = [];
    let running = 0;
    do {
      const page = await client.generations.list({ limit: 100, ...(cursor ? { cursor } : {}) });
      for (const s of page.items) {
        if (!pending.has(s.id)) continue;
        if (FINAL_STATES.includes(s.state)) closed.push(s.id);
        else if (s.state === 'running') running++;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    maxInFlight = Math.max(maxInFlight, running);
    for (const id of closed) {
      const g = await client.generations.get(id);
      if (FINAL_STATES.includes(g.state)) {
        final.set(id, g);
        pending.delete(id);
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 1000));
  }
  const allMs = performance.now() - t0;
  const states: Record<string, number> = {};
  for (const g of final.values()) states[g.state] = (states[g.state] ?? 0) + 1;
  const succeeded = states['succeeded'] ?? 0;
  const stepsRun = [...final.values()].reduce((a, g) => a + g.step, 0);
  log(`${succeeded}/${count} succeeded in ${(allMs / 1000).toFixed(1)} s (${pending.size} not final)`);

  await writeReport(values.out, {
    question: 'how fast the API shows a new generation progressing, and whether a queue of generations on one worker all complete',
    command: 'node --import tsx bench/api/bench.ts',
    model: path.relative(REPO_ROOT, modelDir),
    prompt: values.prompt,
    samplerSteps: steps,
    stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY,
    submitToFirstEvent: {
      runs: firstEvent.length,
      p50Ms: round(quantile(firstEvent, 0.5)),
      p95Ms: round(quantile(firstEvent, 0.95)),
      maxMs: round(Math.max(...firstEvent)),
    },
    submitToFirstStep: {
      runs: firstStep.length,
      p50Ms: round(quantile(firstStep, 0.5)),
      p95Ms: round(quantile(firstStep, 0.95)),
      maxMs: round(Math.max(...firstStep)),
    },
    queue: {
      generations: count,
      created: ids.length,
      distinctIds: new Set(ids).size,
      final: final.size,
      states,
      lost: count - final.size,
      allSucceeded: succeeded === count,
      submitMs: Math.round(submitMs),
      allCompleteMs: Math.round(allMs),
      generationsPerSecond: Number((final.size / (allMs / 1000)).toFixed(2)),
      stepsRun,
      stepsPerSecond: Number((stepsRun / (allMs / 1000)).toFixed(1)),
      maxRunningSeen: maxInFlight,
      workerActivitySlots: worker.ready.activitySlots,
    },
  });
  if (succeeded !== count) process.exitCode = 1;
} finally {
  await api.close();
  await temporal.close();
  await worker.stop();
  await stopTemporalDev(dir);
  rmSync(dir, { recursive: true, force: true });
}
