import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './paths.js';
import { localTemporalEnv } from './temporal.js';

/** The fields of the worker's "worker ready" log line. */
export interface WorkerReady {
  metrics: string | null;
  store: string;
  models: string[];
  activitySlots: number;
}

export interface WorkerProcess {
  child: ChildProcess;
  ready: WorkerReady;
  /** Everything it printed so far. */
  log(): string;
  /** SIGKILL, as a crashed machine would; resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful shutdown); resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the worker's entry point (`apps/worker/src/main.ts`) as its own process, as the README's
 * main command and a deployment do; resolves once it logged "worker ready".
 */
export async function startWorkerProcess(options: {
  address: string;
  namespace: string;
  dataDir: string;
  /** Model directories (ONEFLOW_MODELS). */
  models: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      // Plaintext by default; a test of a secured connection passes its TEMPORAL_TLS_* in `env`.
      ...localTemporalEnv(options.address, options.namespace),
      ONEFLOW_DATA_DIR: options.dataDir,
      ONEFLOW_MODELS: options.models.join(','),
      SDK_LOG_LEVEL: 'ERROR',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = await new Promise<WorkerReady>((resolve, reject) => {
    const onLine = (line: string) => {
      log += `${line}\n`;
      if (line.includes('"worker ready"')) resolve(JSON.parse(line) as WorkerReady);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    void exited.then((code) => reject(new Error(`worker exited (${String(code)}) before it was ready:\n${log}`)));
  });
  return {
    child,
    ready,
    log: () => log,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
