/**
 * The main command: the embedded stack on one machine. Starts (or reuses) the Temporal dev server
 * persisting to SQLite under the data dir, then the worker and the API, checks the whole path
 * end to end with the smoke workflow, prints where everything listens, and on Ctrl-C stops what
 * it started. A worker or API that exits meanwhile (crash, OOM kill, `kill -9`) is started again
 * with backoff, and the output says so; one that refuses its configuration (exit code 2) stops
 * the stack.
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
  preferredModel,
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

/** How long a service must have run for its next crash to restart it after the shortest delay again. */
const STABLE_AFTER_MS = 60_000;
/** Restart delays: 1 s, 2 s, 4 s … at most 30 s. */
function restartDelayMs(consecutiveCrashes: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, consecutiveCrashes - 1));
}
/** The exit code a service uses for a configuration it refuses (serviceConfigOrExit): restarting cannot help. */
const CONFIG_ERROR_EXIT = 2;

/**
 * A service under supervision: started again with backoff when it exits while the stack is not
 * stopping (a crash, an OOM kill, `kill -9`), so one dead process does not take the stack down.
 */
class Service {
  child!: ChildProcess;
  exited!: Promise<number | null>;
  private crashes = 0;
  stopping = false;

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logsDir: string,
    private readonly onLine: (line: string) => void,
    /** Called when the service cannot be restarted (its configuration is refused). */
    private readonly onFatal: (code: number | null) => void,
  ) {
    this.start();
  }

  private start(): void {
    // `node --import tsx`: one process per service, so signals reach the service itself.
    const child = spawn(process.execPath, ['--import', 'tsx', this.entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const startedAt = Date.now();
    const log = createWriteStream(path.join(this.logsDir, `${this.name}.log`), { flags: 'a' });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        log.write(`${line}\n`);
        console.log(`[${this.name}] ${formatLogLine(line)}`);
        this.onLine(line);
      });
    }
    say(`${this.name} started (pid ${child.pid})`);
    this.child = child;
    this.exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code, signal) => {
        log.end();
        resolve(code);
        if (this.stopping) return;
        const how = signal ? `signal ${signal}` : `code ${String(code)}`;
        const logFile = path.join(this.logsDir, `${this.name}.log`);
        if (code === CONFIG_ERROR_EXIT) {
          console.error(`oneflow: ${this.name} exited (${how}): it refuses its configuration; see ${logFile}`);
          this.onFatal(code);
          return;
        }
        this.crashes = Date.now() - startedAt > STABLE_AFTER_MS ? 1 : this.crashes + 1;
        const delay = restartDelayMs(this.crashes);
        console.error(
          `oneflow: ${this.name} exited unexpectedly (${how}); restarting it in ${delay / 1000} s (crash ${this.crashes} in a row); see ${logFile}`,
        );
        setTimeout(() => {
          if (!this.stopping) this.start();
        }, delay);
      }),
    );
  }

  stop(): void {
    this.stopping = true;
    this.child.kill('SIGTERM');
  }
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
    for (const s of services) s.stop();
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
  // Webhooks reach only public addresses unless allowed; a receiver on this machine is the dev case.
  const webhookAllow = process.env['ONEFLOW_WEBHOOK_ALLOW'] ?? 'localhost,127.0.0.1,::1';
  const serviceEnv = {
    ...localTemporalEnv(temporal.address, temporal.namespace),
    ONEFLOW_DATA_DIR: dataDir,
    ONEFLOW_WEBHOOK_ALLOW: webhookAllow,
  };
  let workerReady = false;
  let workerModels: { name: string; format: string }[] = [];
  let apiUrl: string | undefined;
  let ready = false;
  const fatal = () => void stop(1);
  const worker = new Service(
    'worker',
    'apps/worker/src/main.ts',
    serviceEnv,
    logsDir,
    (line) => {
      if (line.includes('"worker ready"')) {
        workerReady = true;
        const info = JSON.parse(line) as { models?: string[]; modelFormats?: Record<string, string> };
        workerModels = (info.models ?? []).map((name) => ({ name, format: info.modelFormats?.[name] ?? 'oneflow-v1' }));
        if (ready) say('worker ready again');
      }
    },
    fatal,
  );
  const api = new Service(
    'api',
    'apps/api/src/main.ts',
    { ...serviceEnv, API_PORT: String(apiPort) },
    logsDir,
    (line) => {
      const match = /"url":"([^"]+)".*"api listening"|"api listening".*"url":"([^"]+)"/.exec(line);
      if (match) {
        apiUrl = match[1] ?? match[2];
        if (ready) say('api ready again');
      }
    },
    fatal,
  );
  services.push(worker, api);

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
  // The model on the newest contract when several are served (oneflow-toy-v2 beside v1).
  const model = preferredModel(workerModels)?.name;
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
  const base = url.replace(/\/trpc$/, '');
  // The playground is whatever the API serves at `/` (the bundle `infra/dev/setup` builds).
  const site = await fetch(`${base}/`).catch(() => null);
  const playground = site?.ok && (site.headers.get('content-type') ?? '').startsWith('text/html');
  await site?.body?.cancel();

  console.log('');
  say('ready');
  console.log(
    `  playground        ${playground ? `${base}/   (open it in a browser)` : 'not built: infra/dev/setup builds apps/web/dist'}`,
  );
  console.log(`  API (tRPC)        ${url}   health: ${url}/health`);
  console.log(`  Temporal gRPC     ${temporal.address}  (namespace ${temporal.namespace})`);
  if (temporal.uiUrl) console.log(`  Temporal Web UI   ${temporal.uiUrl}`);
  console.log(`  Temporal store    ${temporal.dbFile ?? '(in memory)'}`);
  console.log(`  logs              ${logsDir}`);
  console.log(`  webhooks allowed  public addresses and ${webhookAllow} (ONEFLOW_WEBHOOK_ALLOW)`);
  console.log(`  smoke workflow    "${smoke.greeting}" from ${smoke.taskQueue}`);
  console.log(`  generation        ${demo ?? 'no model under models/: the worker serves the smoke workflow only'}`);
  console.log(`  health            ${JSON.stringify(health)}`);
  console.log('');
  console.log(`  from a second terminal, through the API with the SDK:`);
  console.log(`    ONEFLOW_API_URL=${base} node --import tsx packages/sdk/src/examples/generate.ts count from two to five --out out/`);
  console.log(`  or with the CLI:`);
  console.log(`    node packages/sdk/bin/oneflow.js generate --api ${base} --prompt "count from two to five" --out out/`);
  console.log('');
  say('a worker or API that exits is restarted (1 s, 2 s, 4 s … 30 s apart); press Ctrl-C to stop');
  ready = true;
}

main().catch((error: unknown) => {
  console.error(`oneflow: ${error instanceof Error ? error.message : String(error)}`);
  process.kill(process.pid, 'SIGTERM');
});
