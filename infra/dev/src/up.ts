/**
 * The main command: the embedded stack on one machine. Starts (or reuses) the Temporal dev server
 * persisting to SQLite under the data dir, then the worker and the API, checks the whole path
 * end to end with the smoke workflow, prints where everything listens, and on Ctrl-C stops what
 * it started.
 *
 *   ONEFLOW_DATA_DIR (default .oneflow)  ONEFLOW_TEMPORAL_PORT (7233)  API_PORT (3000)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import {
  CPU_TASK_QUEUE,
  DEFAULT_STEPS_PER_ACTIVITY,
  WORKFLOWS,
  type GenerationResult,
  type GenerationWorkflowInput,
  type SmokeResult,
} from '@oneflow/contracts';
import { dataDir as resolveDataDir, REPO_ROOT } from './paths.js';
import { isListening } from './ports.js';
import { localTemporalEnv, startTemporalDev, stopTemporalDev } from './temporal.js';

const bold = (s: string) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);
const say = (s: string) => console.log(`${bold('oneflow')} ${s}`);

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`oneflow: ${name} must be a TCP port (1-65535), got '${raw}'`);
    process.exit(2);
  }
  return port;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const PINO_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** Shows a pino JSON line as `level msg {fields}`; the log file keeps the JSON. */
function formatLogLine(line: string): string {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (typeof entry['msg'] !== 'string') return line;
    const fields = Object.fromEntries(Object.entries(entry).filter(([k]) => !PINO_FIELDS.has(k)));
    const level = LEVELS[Number(entry['level'])] ?? 'info';
    return `${level.padEnd(5)} ${entry['msg']}${Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`;
  } catch {
    return line;
  }
}

interface Service {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Starts the TypeScript `entry` with its output prefixed on the console and copied to `<logs>/<name>.log`. */
function startService(name: string, entry: string, env: NodeJS.ProcessEnv, logsDir: string, onLine: (line: string) => void): Service {
  // `node --import tsx`: one process per service, so signals reach the service itself.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(path.join(logsDir, `${name}.log`), { flags: 'a' });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`);
      console.log(`[${name}] ${formatLogLine(line)}`);
      onLine(line);
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      log.end();
      resolve(code);
    }),
  );
  return { name, child, exited };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const dataDir = resolveDataDir();
  const temporalPort = portFromEnv('ONEFLOW_TEMPORAL_PORT', 7233);
  const apiPort = portFromEnv('API_PORT', 3000);
  const logsDir = path.join(dataDir, 'logs');
  mkdirSync(logsDir, { recursive: true });

  if (await isListening(apiPort)) {
    console.error(`oneflow: API port ${apiPort} is already in use; set API_PORT to another port`);
    process.exit(2);
  }

  say(`data dir ${dataDir}`);
  say('starting the Temporal dev server (SQLite store in the data dir)…');
  const temporal = await startTemporalDev({ dataDir, port: temporalPort });
  say(`Temporal ${temporal.startedHere ? 'started' : 'already running, reused'} at ${temporal.address}`);

  const services: Service[] = [];
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (stopping) return new Promise<never>(() => undefined);
    stopping = true;
    say('stopping…');
    for (const s of services) s.child.kill('SIGTERM');
    await Promise.race([Promise.all(services.map((s) => s.exited)), sleep(20_000)]);
    for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    if (temporal.startedHere) await stopTemporalDev(dataDir);
    say(temporal.startedHere ? 'stopped (Temporal store kept in the data dir)' : 'stopped (left the reused Temporal server running)');
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  // The embedded dev server is local and plaintext: TLS / API-key settings meant for a real
  // cluster in this shell must not reach its services (empty = unset for the shared parser).
  const serviceEnv = { ...localTemporalEnv(temporal.address, temporal.namespace), ONEFLOW_DATA_DIR: dataDir };
  let workerReady = false;
  let workerModels: string[] = [];
  let apiUrl: string | undefined;
  const worker = startService('worker', 'apps/worker/src/main.ts', serviceEnv, logsDir, (line) => {
    if (line.includes('"worker ready"')) {
      workerReady = true;
      workerModels = (JSON.parse(line) as { models?: string[] }).models ?? [];
    }
  });
  const api = startService('api', 'apps/api/src/main.ts', { ...serviceEnv, API_PORT: String(apiPort) }, logsDir, (line) => {
    const match = /"url":"([^"]+)".*"api listening"|"api listening".*"url":"([^"]+)"/.exec(line);
    if (match) apiUrl = match[1] ?? match[2];
  });
  services.push(worker, api);
  for (const s of services) {
    void s.exited.then((code) => {
      if (!stopping) {
        console.error(`oneflow: ${s.name} exited unexpectedly (code ${String(code)}); see ${path.join(logsDir, `${s.name}.log`)}`);
        void stop(1);
      }
    });
  }

  const url = await waitFor('the API', 60_000, async () => apiUrl);
  await waitFor('the worker', 120_000, async () => (workerReady ? true : undefined));
  const health = await waitFor('API health', 30_000, async () => {
    try {
      const res = await fetch(`${url}/health`);
      return res.ok ? ((await res.json()) as { result: { data: unknown } }).result.data : undefined;
    } catch {
      return undefined;
    }
  });

  // End to end: API process up, Temporal up, worker polling both task queues.
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const smoke = (await client.workflow.execute(WORKFLOWS.smoke, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: `smoke-${Date.now()}`,
    args: [{ name: 'oneflow' }],
    workflowExecutionTimeout: '60 seconds',
  })) as SmokeResult;

  // And one real generation through the whole pipeline, when a model is installed.
  let demo: string | null = null;
  const model = workerModels[0];
  if (model !== undefined) {
    const generationId = `demo-${Date.now()}`;
    const t0 = Date.now();
    const result = (await client.workflow.execute(WORKFLOWS.generation, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: generationId,
      args: [
        {
          generationId,
          root: { kind: 'new', request: { model, prompt: 'count from two to five', seed: 0 } },
          stepsPerActivity: DEFAULT_STEPS_PER_ACTIVITY,
        } satisfies GenerationWorkflowInput,
      ],
      workflowExecutionTimeout: '5 minutes',
    })) as GenerationResult;
    demo = `${model}: "count from two to five" → "${result.final.text}" (${result.final.step} steps, ${result.final.imageClocks.length} images, ${Date.now() - t0} ms)`;
  }
  await connection.close();

  console.log('');
  say('ready');
  console.log(`  API (tRPC)        ${url}   health: ${url}/health`);
  console.log(`  Temporal gRPC     ${temporal.address}  (namespace ${temporal.namespace})`);
  if (temporal.uiUrl) console.log(`  Temporal Web UI   ${temporal.uiUrl}`);
  console.log(`  Temporal store    ${temporal.dbFile ?? '(in memory)'}`);
  console.log(`  logs              ${logsDir}`);
  console.log(`  smoke workflow    "${smoke.greeting}" from ${smoke.taskQueue}`);
  console.log(`  generation        ${demo ?? 'no model under models/: the worker serves the smoke workflow only'}`);
  console.log(`  health            ${JSON.stringify(health)}`);
  console.log('');
  const base = url.replace(/\/trpc$/, '');
  console.log(`  from a second terminal, through the API with the SDK:`);
  console.log(`    ONEFLOW_API_URL=${base} node --import tsx packages/sdk/src/examples/generate.ts count from two to five --out out/`);
  console.log(`  or with the CLI:`);
  console.log(`    node packages/sdk/bin/oneflow.js generate --api ${base} --prompt "count from two to five" --out out/`);
  console.log('');
  say('press Ctrl-C to stop');
}

main().catch((error: unknown) => {
  console.error(`oneflow: ${error instanceof Error ? error.message : String(error)}`);
  process.kill(process.pid, 'SIGTERM');
});
