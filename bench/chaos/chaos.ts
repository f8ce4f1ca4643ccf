/**
 * The chaos run shared by the soak (`bench/chaos/soak.ts`) and its short version in the test suite
 * (`bench/chaos/chaos.test.ts`): the API (in this process), two worker processes and a Temporal dev
 * server of its own that persists to SQLite, the tiny test model, webhooks to a local receiver
 * (allowed through ONEFLOW_WEBHOOK_ALLOW). While generations, branches, refinements and a batch run:
 * kill -9 of a random worker every few seconds (restarted at once), one restart of the Temporal
 * server, two sweeps of the retention collector (the admin command). Then every outcome is checked
 * against an in-process reference (the runtime's ModelRunner + the sampler's runGeneration) and the
 * figures are returned.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createApiServer, createJobDeps, createTemporalGateway, hashApiKey, KeyRing, type ApiServer } from '@oneflow/api';
import type { GenerationRequest, RefineOp } from '@oneflow/contracts';
import {
  freePort,
  REPO_ROOT,
  startTemporalDev,
  startWorkerProcess,
  stopTemporalDev,
  WebhookReceiver,
  type WorkerProcess,
} from '@oneflow/devstack';
import { describeModelDir, ModelRunner } from '@oneflow/runtime';
import {
  applyBranchChange,
  checkpointIdOf,
  decodeCheckpoint,
  encodeCheckpoint,
  runGeneration,
  stateFromSpec,
  type SamplerState,
} from '@oneflow/sampler';
import { createClient, errorCode, verifyWebhook, type Generation, type OneflowClient } from '@oneflow/sdk';
import { LocalBlobStore } from '@oneflow/store';

const execFileAsync = promisify(execFile);

export const TINY_MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');

export interface ChaosOptions {
  /** New generations (half per tenant). */
  generations: number;
  /** Branches (a step of a finished generation, another seed) and as many refinements (a new prompt from a step). */
  branches: number;
  refinements: number;
  /** Items of the one batch. */
  batchItems: number;
  /** The `steps` of every request (small: the tiny model, many generations). */
  steps: number;
  /** Seconds over which the new generations are submitted. */
  submitOverSeconds: number;
  /** Seconds between two kills of a worker (uniform in the range). */
  killEverySeconds: [number, number];
  /** Kills stop this long after the start (the run then drains). */
  chaosSeconds: number;
  /** When (seconds from the start) the Temporal server is restarted, and when the two sweeps run. */
  temporalRestartAt: number;
  gcAt: [number, number];
  /** Retention policy of the run: collected are checkpoints older than `graceMinutes`. */
  keepEvery: number;
  /** Receiver answers 503 to the first attempts of every message. */
  failFirst: number;
  /** Seed of the run's choices (which worker, when). */
  seed: number;
  log?: (line: string) => void;
}

interface Job {
  key: string;
  kind: 'new' | 'branch' | 'refine' | 'batch-item';
  tenant: 'acme' | 'umbrella';
  id: string | null;
  /** How its root state is made from the reference. */
  request?: GenerationRequest;
  parent?: Job;
  step?: number;
  seed?: number;
  refine?: RefineOp;
  /** Filled in at the end. */
  final?: Generation;
}

export interface ChaosReport {
  workload: { generations: number; branches: number; refinements: number; batchItems: number; total: number; steps: number };
  chaos: { workerKills: number; workerRestarts: number; temporalRestarts: number; gcSweeps: number; apiRetries: number };
  outcome: {
    expectedSucceeded: number;
    succeeded: number;
    notSucceeded: { id: string; state: string; error: string | null }[];
    lost: number;
    byteIdentical: number;
    different: string[];
  };
  webhooks: {
    expectedMessages: number;
    delivered: number;
    missing: string[];
    attempts: number;
    retriedMessages: number;
    /** Messages whose attempts did not all carry the same body and webhook-id, or did not verify. */
    inconsistent: string[];
    /** Messages a receiver acknowledged more than once (at least once, so allowed). */
    acknowledgedTwice: number;
  };
  retention: {
    sweeps: { reclaimedBlobs: number; keptBlobs: number; reclaimedBytes: number }[];
    /** Checkpoints the policy keeps (root, final, every K-th step, branch points) that were checked in the store. */
    checked: number;
    missing: string[];
  };
  seconds: { total: number; drain: number; reference: number };
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Calls `fn` until it answers, through a Temporal restart and worker kills; codes that are answers are rethrown. */
async function retrying<T>(what: string, fn: () => Promise<T>, counter: { apiRetries: number }, timeoutMs = 180_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const code = errorCode(error);
      if (code && !['INTERNAL_SERVER_ERROR', 'TIMEOUT', 'SERVICE_UNAVAILABLE'].includes(code)) throw error;
      if (Date.now() > end) throw new Error(`${what}: still failing after ${timeoutMs} ms: ${String(error)}`);
      counter.apiRetries += 1;
      await sleep(500);
    }
  }
}

/** The checks of a chaos run: the names of those that failed. */
export function failedChecks(r: ChaosReport): string[] {
  const failed: string[] = [];
  if (r.outcome.succeeded !== r.outcome.expectedSucceeded) failed.push('every generation succeeded');
  if (r.outcome.byteIdentical !== r.workload.total) failed.push('byte-identical to the reference');
  if (r.outcome.lost !== 0) failed.push('none lost');
  if (r.webhooks.delivered !== r.webhooks.expectedMessages || r.webhooks.inconsistent.length > 0) failed.push('webhooks');
  if (r.retention.missing.length > 0) failed.push('retention keeps');
  if (r.chaos.gcSweeps !== 2 || r.chaos.temporalRestarts !== 1 || r.chaos.workerKills === 0) failed.push('chaos ran');
  return failed;
}

const FINAL = new Set(['succeeded', 'failed', 'canceled', 'expired']);
const stateKey = (s: SamplerState) => encodeCheckpoint({ state: s, parent: null }).id;

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const random = rng(o.seed);
  // The schedule counts from when the stack is up.
  let t0 = Date.now();
  const at = (s: number) => t0 + s * 1000;
  const since = () => ((Date.now() - t0) / 1000).toFixed(1);
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-chaos-'));
  const secrets = { acme: `whsec_${randomBytes(24).toString('base64')}`, umbrella: `whsec_${randomBytes(24).toString('base64')}` };
  const keys = { acme: `sk-acme-${randomBytes(8).toString('hex')}`, umbrella: `sk-umbrella-${randomBytes(8).toString('hex')}` };
  const retention = { keepAllHours: 0, keepEvery: o.keepEvery, graceMinutes: 1 };
  // The receiver listens on 127.0.0.1: allowed for the API (in this process) and the workers.
  process.env['ONEFLOW_WEBHOOK_ALLOW'] = '127.0.0.1';
  const port = await freePort();
  const server = await startTemporalDev({ dataDir: dir, port, uiPort: null, persist: true });
  const receiver = new WebhookReceiver();
  receiver.failFirst = o.failFirst;
  await receiver.start();
  const workerEnv = {
    ONEFLOW_WEBHOOK_SECRETS: `acme:${secrets.acme},umbrella:${secrets.umbrella}`,
    ONEFLOW_WEBHOOK_ALLOW: '127.0.0.1',
    ONEFLOW_GC_SCHEDULE: 'off',
    ONEFLOW_RETENTION: JSON.stringify(retention),
    MODEL_THREADS: '1',
    ACTIVITY_SLOTS: '4',
  };
  const startWorker = () =>
    startWorkerProcess({ address: server.address, namespace: server.namespace, dataDir: dir, models: [TINY_MODEL_DIR], env: workerEnv });
  /** Two worker slots: a running worker, or null while its replacement starts. */
  const workers: (WorkerProcess | null)[] = await Promise.all([startWorker(), startWorker()]);
  const starting = new Set<Promise<unknown>>();
  const temporal = createTemporalGateway(server.address, server.namespace);
  const jobs = await createJobDeps({
    dataDir: dir,
    models: TINY_MODEL_DIR,
    stepsPerActivity: 4,
    watchIntervalMs: 200,
    ratePerMinute: 1_000_000,
    webhookTenants: ['acme', 'umbrella'],
  });
  const api: ApiServer = await createApiServer({
    inner: { temporal, version: 'chaos', startedAt: Date.now(), jobs },
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
    keys: new KeyRing([
      { tenant: 'acme', sha256: hashApiKey(keys.acme) },
      { tenant: 'umbrella', sha256: hashApiKey(keys.umbrella) },
    ]),
  });
  const clients: Record<Job['tenant'], OneflowClient> = {
    acme: createClient({ baseUrl: api.baseUrl, apiKey: keys.acme }),
    umbrella: createClient({ baseUrl: api.baseUrl, apiKey: keys.umbrella }),
  };
  const chaos = { workerKills: 0, workerRestarts: 0, temporalRestarts: 0, gcSweeps: 0, apiRetries: 0 };
  const sweeps: ChaosReport['retention']['sweeps'] = [];
  const webhook = { url: receiver.url };
  const model = (await describeModelDir(TINY_MODEL_DIR)).spec.name;
  const request = (i: number): GenerationRequest => ({
    model,
    prompt: i % 2 === 0 ? 'draw a seven' : 'count from two to five',
    seed: 10_000 + i,
    steps: o.steps,
    guidance: 2,
    temperature: 0.7,
  });
  let stopChaos = false;
  /** The Temporal restart in progress (workers and sweeps wait for it). */
  const restart: { pending: Promise<void> | null } = { pending: null };
  /** A failed check keeps the data dir (store, Temporal's SQLite) for a look. */
  let keep = false;

  try {
    t0 = Date.now();
    log(`[${since()} s] stack up: ${server.address}, API ${api.baseUrl}, 2 workers`);

    // 1. Chaos: kill -9 a random running worker every few seconds; its replacement starts meanwhile
    //    (seconds: Node, the model's sessions), so at times both are down.
    const replace = async (i: number): Promise<void> => {
      if (restart.pending) await restart.pending; // a worker cannot start without its server
      const next = await startWorker();
      if (stopChaos) await next.kill9();
      else workers[i] = next;
      chaos.workerRestarts += 1;
    };
    const killer = (async () => {
      while (!stopChaos && Date.now() < at(o.chaosSeconds)) {
        const [lo, hi] = o.killEverySeconds;
        await sleep((lo + random() * (hi - lo)) * 1000);
        const running = workers.flatMap((w, i) => (w ? [i] : []));
        if (stopChaos || running.length === 0) continue;
        const i = running[Math.floor(random() * running.length)]!;
        const victim = workers[i]!;
        workers[i] = null;
        await victim.kill9();
        chaos.workerKills += 1;
        log(`[${since()} s] kill -9 worker ${i} (${running.length - 1} left running)`);
        const p = replace(i);
        starting.add(p);
        const done = () => starting.delete(p);
        p.then(done, done);
      }
      await Promise.all(starting);
    })();
    const restarter = (async () => {
      await sleep(Math.max(0, at(o.temporalRestartAt) - Date.now()));
      log(`[${since()} s] stopping the Temporal server`);
      restart.pending = (async () => {
        await stopTemporalDev(dir);
        await sleep(1000);
        await startTemporalDev({ dataDir: dir, port, uiPort: null, persist: true });
      })();
      await restart.pending;
      restart.pending = null;
      chaos.temporalRestarts += 1;
      log(`[${since()} s] Temporal server back`);
    })();
    const collector = (async () => {
      for (const when of o.gcAt) {
        await sleep(Math.max(0, at(when) - Date.now()));
        if (restart.pending) await restart.pending;
        for (let attempt = 1; ; attempt++) {
          try {
            const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'apps/worker/src/gc-cli.ts'], {
              cwd: REPO_ROOT,
              env: {
                ...process.env,
                TEMPORAL_ADDRESS: server.address,
                TEMPORAL_NAMESPACE: server.namespace,
                ONEFLOW_DATA_DIR: dir,
                ONEFLOW_RETENTION: JSON.stringify(retention),
                LOG_LEVEL: 'silent',
              },
            });
            const r = JSON.parse(stdout) as { blobs: { kept: number; reclaimed: number }; bytes: { reclaimed: number } };
            sweeps.push({ reclaimedBlobs: r.blobs.reclaimed, keptBlobs: r.blobs.kept, reclaimedBytes: r.bytes.reclaimed });
            chaos.gcSweeps += 1;
            log(`[${since()} s] GC sweep: ${r.blobs.reclaimed} blobs reclaimed, ${r.blobs.kept} kept`);
            break;
          } catch (error) {
            if (attempt >= 5) throw error;
            await sleep(3000);
          }
        }
      }
    })();

    // 2. The workload, submitted through the SDK with idempotency keys (a retry never makes a second job).
    const all: Job[] = [];
    const submit = async (job: Job, call: () => Promise<Generation>): Promise<void> => {
      job.id = (await retrying(`submit ${job.key}`, call, chaos)).id;
    };
    const news: Job[] = [];
    const submitNew = (async () => {
      for (let i = 0; i < o.generations; i++) {
        const job: Job = { key: `new-${i}`, kind: 'new', tenant: i % 2 === 0 ? 'acme' : 'umbrella', id: null, request: request(i) };
        news.push(job);
        all.push(job);
        await submit(job, () => clients[job.tenant].generations.create({ ...job.request!, idempotencyKey: job.key, webhook }));
        await sleep((o.submitOverSeconds * 1000) / o.generations);
      }
    })();
    const batchJobs: Job[] = [];
    const submitBatch = (async () => {
      await sleep((o.submitOverSeconds * 1000) / 3);
      const items = Array.from({ length: o.batchItems }, (_, i) => request(50_000 + i));
      const batch = await retrying(
        'batch',
        () => clients.acme.batches.create({ items, concurrency: 8, idempotencyKey: 'batch-0', webhook }),
        chaos,
      );
      batch.items.forEach((item, i) => {
        const job: Job = { key: `batch-${i}`, kind: 'batch-item', tenant: 'acme', id: item.id, request: items[i]! };
        batchJobs.push(job);
        all.push(job);
      });
      log(`[${since()} s] batch ${batch.id} of ${items.length} submitted`);
    })();
    // Branches and refinements from a step of a finished generation (a multiple of K: kept by retention).
    const submitDerived = (async () => {
      const derived = [
        ...Array.from({ length: o.branches }, (_, i) => ({ kind: 'branch' as const, i })),
        ...Array.from({ length: o.refinements }, (_, i) => ({ kind: 'refine' as const, i: o.branches + i })),
      ];
      for (const { kind, i } of derived) {
        while (news.length <= i || news[i]!.id === null) await sleep(200);
        const parent = news[i]!;
        const done = await retrying(
          `wait ${parent.key}`,
          async () => {
            for (;;) {
              const g = await clients[parent.tenant].generations.get(parent.id!);
              if (FINAL.has(g.state)) return g;
              await sleep(300);
            }
          },
          chaos,
          600_000,
        );
        const step = Math.floor(done.step / 2 / o.keepEvery) * o.keepEvery;
        const job: Job = { key: `${kind}-${i}`, kind, tenant: parent.tenant, id: null, parent, step };
        all.push(job);
        const from = { generationId: parent.id!, step };
        if (kind === 'branch') {
          job.seed = 777 + i;
          await submit(job, () =>
            clients[job.tenant].generations.branch({ from, overrides: { seed: job.seed! }, idempotencyKey: job.key, webhook }),
          );
        } else {
          job.refine = {
            op: 'replacePrompt',
            prompt: parent.request!.prompt === 'draw a seven' ? 'count from two to five' : 'draw a seven',
          };
          await submit(job, () => clients[job.tenant].generations.refine({ from, op: job.refine!, idempotencyKey: job.key, webhook }));
        }
      }
    })();
    await Promise.all([submitNew, submitBatch, submitDerived]);
    log(`[${since()} s] all ${all.length} submitted`);

    // 3. Drain: every job to a final state (the chaos stops on its own schedule).
    const drainFrom = Date.now();
    for (const job of all) {
      job.final = await retrying(
        `final ${job.key}`,
        async () => {
          for (;;) {
            // A batch item the batch has not started yet (it starts `concurrency` at a time) is not there yet.
            const g = await clients[job.tenant].generations.get(job.id!).catch((error: unknown) => {
              if (job.kind === 'batch-item' && errorCode(error) === 'NOT_FOUND') return null;
              throw error;
            });
            if (g && FINAL.has(g.state)) return g;
            await sleep(500);
          }
        },
        chaos,
        900_000,
      );
    }
    // The kills go on until the sweeps and the restart have happened (or their schedule ends).
    await Promise.all([restarter, collector]);
    stopChaos = true;
    await killer;
    const drain = (Date.now() - drainFrom) / 1000;
    log(`[${since()} s] all final; ${chaos.workerKills} kills, ${chaos.temporalRestarts} Temporal restart, ${chaos.gcSweeps} sweeps`);

    // 4. Lost: every submitted job is listed for its tenant.
    const listed = new Set<string>();
    for (const tenant of ['acme', 'umbrella'] as const) {
      let cursor: string | undefined;
      do {
        const page = await clients[tenant].generations.list({ limit: 100, ...(cursor ? { cursor } : {}) });
        for (const g of page.items) listed.add(g.id);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    const lost = all.filter((j) => j.id === null || !listed.has(j.id)).length;

    // 5. Webhooks: one message per job, delivered at least once, every attempt of a message the same.
    const webhookEnd = Date.now() + 120_000;
    const ackedIds = () =>
      new Set(receiver.received.filter((r) => r.status < 300).map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
    while (all.some((j) => !ackedIds().has(j.id!)) && Date.now() < webhookEnd) await sleep(500);
    const byMessage = new Map<string, typeof receiver.received>();
    for (const r of receiver.received) {
      const id = String(r.headers['webhook-id']);
      byMessage.set(id, [...(byMessage.get(id) ?? []), r]);
    }
    const inconsistent: string[] = [];
    for (const [id, attempts] of byMessage) {
      const bodies = new Set(attempts.map((a) => a.body));
      const tenant = (JSON.parse(attempts[0]!.body) as { data: { id: string } }).data.id;
      const job = all.find((j) => j.id === tenant);
      const ok = attempts.every((a) => {
        try {
          // Verified as of its own signed time: this check runs minutes after the first deliveries.
          const signedAt = new Date(Number(a.headers['webhook-timestamp']) * 1000);
          verifyWebhook({ payload: a.body, headers: a.headers, secret: secrets[job?.tenant ?? 'acme'], now: signedAt });
          return true;
        } catch {
          return false;
        }
      });
      if (bodies.size !== 1 || !ok || !job) inconsistent.push(id);
    }
    const acked = ackedIds();
    const webhooks: ChaosReport['webhooks'] = {
      expectedMessages: all.length,
      delivered: all.filter((j) => acked.has(j.id!)).length,
      missing: all.filter((j) => !acked.has(j.id!)).map((j) => j.id ?? j.key),
      attempts: receiver.received.length,
      retriedMessages: [...byMessage.values()].filter((a) => a.length > 1).length,
      inconsistent,
      acknowledgedTwice: [...byMessage.values()].filter((a) => a.filter((x) => x.status < 300).length > 1).length,
    };

    // 6. Retention: what the policy keeps of each generation is in the store.
    const store = new LocalBlobStore(path.join(dir, 'checkpoints'), { idOf: checkpointIdOf });
    const missing: string[] = [];
    let checked = 0;
    for (const job of all) {
      const g = job.final!;
      let page;
      try {
        page = await clients[job.tenant].generations.steps({ id: g.id, limit: 500 });
      } catch (error) {
        missing.push(`${g.id} (${job.key}): ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const byStep = new Map(page.items.map((s) => [s.step, s.checkpointId]));
      const root = job.step ?? 0;
      const keep = new Set([root, g.step]);
      for (let s = root; s <= g.step; s++) if (s % o.keepEvery === 0) keep.add(s);
      for (const child of all.filter((c) => c.parent === job)) keep.add(child.step!);
      for (const s of keep) {
        checked += 1;
        const id = byStep.get(s);
        if (!id || !(await store.has(id))) missing.push(`${g.id}@${s}`);
      }
    }

    // 7. Outputs: every final state byte for byte the in-process reference's.
    const refFrom = Date.now();
    const info = await describeModelDir(TINY_MODEL_DIR);
    const runner = await ModelRunner.start(info);
    const different: string[] = [];
    let byteIdentical = 0;
    try {
      const initOf = (r: GenerationRequest) =>
        stateFromSpec({ ...r, seed: r.seed ?? 0, latents: [] }, { spec: info.spec, defaults: info.defaults, tokenizer: info.tokenizer });
      const prompt = (text: string) => info.tokenizer.prompt(text);
      for (const job of all) {
        let init: SamplerState;
        if (job.kind === 'new' || job.kind === 'batch-item') init = initOf(job.request!);
        else {
          const base = (await runGeneration(runner, initOf(job.parent!.request!), { maxSteps: job.step! })).state;
          init = applyBranchChange(base, job.kind === 'branch' ? { overrides: { seed: job.seed! } } : { refine: job.refine! }, prompt);
        }
        const reference = (await runGeneration(runner, init)).state;
        const finalId = job.final!.checkpointId;
        const served =
          finalId && job.final!.state === 'succeeded'
            ? await store.get(finalId).then(
                (bytes) => decodeCheckpoint(bytes, finalId).state,
                (error: unknown) => {
                  log(`${job.key} ${job.final!.id}: final checkpoint unreadable: ${String(error)}`);
                  return null;
                },
              )
            : null;
        if (
          served &&
          stateKey(served) === stateKey(reference) &&
          job.final!.text === info.tokenizer.decode(reference.tokens.slice(reference.promptLen))
        )
          byteIdentical += 1;
        else different.push(job.final!.id);
      }
    } finally {
      await runner.close();
    }
    const reference = (Date.now() - refFrom) / 1000;
    keep = different.length > 0 || missing.length > 0;

    const notSucceeded = all
      .filter((j) => j.final!.state !== 'succeeded')
      .map((j) => ({ id: j.final!.id, state: j.final!.state, error: j.final!.error }));
    return {
      workload: {
        generations: o.generations,
        branches: o.branches,
        refinements: o.refinements,
        batchItems: o.batchItems,
        total: all.length,
        steps: o.steps,
      },
      chaos,
      outcome: {
        expectedSucceeded: all.length,
        succeeded: all.length - notSucceeded.length,
        notSucceeded,
        lost,
        byteIdentical,
        different,
      },
      webhooks,
      retention: { sweeps, checked, missing },
      seconds: {
        total: Math.round((Date.now() - t0) / 100) / 10,
        drain: Math.round(drain * 10) / 10,
        reference: Math.round(reference * 10) / 10,
      },
    };
  } finally {
    stopChaos = true;
    await Promise.allSettled(starting);
    await Promise.all(workers.flatMap((w) => (w ? [w.kill9()] : [])));
    await api.close();
    await temporal.close();
    await receiver.close();
    await stopTemporalDev(dir);
    if (keep) log(`kept the run's files for a look: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
