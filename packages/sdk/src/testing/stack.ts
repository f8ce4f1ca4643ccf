import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { createApiServer, createJobDeps, createTemporalGateway, hashApiKey, KeyRing, type ApiServer } from '@oneflow/api';
import { REPO_ROOT } from '@oneflow/devstack';
import { createClient, errorCode, type OneflowClient } from '../index.js';

export const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');
/** The tiny contract-v2 model (subword tokenizer, RGB images, encoder/decoder). */
export const MODEL_V2_DIR = path.join(REPO_ROOT, 'packages', 'runtime', 'fixtures', 'tiny-v2');
export const KEYS = { acme: 'sk-acme-0123456789', umbrella: 'sk-umbrella-9876543210' } as const;

/** How a call ended: 'resolved', or the tRPC error code it was refused with. */
export async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return errorCode(error);
  }
}

export interface Stack {
  api: ApiServer;
  dataDir: string;
  /** A client per tenant, and one without a key. */
  acme: OneflowClient;
  umbrella: OneflowClient;
  anonymous: OneflowClient;
  worker: ChildProcess | null;
  close(): Promise<void>;
}

/** How long a worker process may take to log "worker ready" before it is killed. */
const READY_TIMEOUT_MS = 90_000;

/** Starts `apps/worker/src/main.ts` (the tiny model) as its own process; resolves once it logged "worker ready". */
export async function startWorker(address: string, namespace: string, dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      ONEFLOW_DATA_DIR: dataDir,
      ONEFLOW_MODELS: MODEL_DIR,
      SDK_LOG_LEVEL: 'ERROR',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        log += `${line}\n`;
        if (line.includes('"worker ready"')) resolve();
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.once('exit', (code) => reject(new Error(`worker exited (${String(code)}) before it was ready:\n${log}`)));
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`worker not ready after ${READY_TIMEOUT_MS / 1000} s:\n${log}`));
      }, READY_TIMEOUT_MS);
      timer.unref();
    });
  } finally {
    // Only while it starts: a ready worker lives until the stack closes, however long its tests run.
    clearTimeout(timer);
  }
  return child;
}

/**
 * The real stack for SDK tests: the API in this process (two tenants' keys, the tiny model's
 * config), a real worker process on the same data dir, both on the shared Temporal dev server.
 */
export async function startStack(options: {
  address: string;
  namespace: string;
  worker: boolean;
  ratePerMinute?: number;
  /** Webhook signing secrets by tenant (the API and the worker get the same, as ONEFLOW_WEBHOOK_SECRETS). */
  webhookSecrets?: Record<string, string>;
  /** Model directories the API and the worker serve (default: the tiny model). */
  models?: readonly string[];
  /** The built web app the API serves at `/` (default: the API's, `apps/web/dist`). */
  webDir?: string;
}): Promise<Stack> {
  const models = (options.models ?? [MODEL_DIR]).join(',');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'oneflow-api-test-'));
  const temporal = createTemporalGateway(options.address, options.namespace);
  const jobs = await createJobDeps({
    dataDir,
    models,
    stepsPerActivity: 4,
    watchIntervalMs: 100,
    ratePerMinute: options.ratePerMinute ?? 100_000,
    webhookTenants: Object.keys(options.webhookSecrets ?? {}),
  });
  const keys = new KeyRing([
    { tenant: 'acme', sha256: hashApiKey(KEYS.acme) },
    { tenant: 'umbrella', sha256: hashApiKey(KEYS.umbrella) },
  ]);
  const api = await createApiServer({
    inner: { temporal, version: 'test', startedAt: Date.now(), jobs },
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
    keys,
    ...(options.webDir === undefined ? {} : { webDir: options.webDir }),
  });
  let worker: ChildProcess | null = null;
  try {
    const secrets = Object.entries(options.webhookSecrets ?? {})
      .map(([tenant, secret]) => `${tenant}:${secret}`)
      .join(',');
    if (options.worker)
      worker = await startWorker(options.address, options.namespace, dataDir, {
        ONEFLOW_MODELS: models,
        ...(secrets ? { ONEFLOW_WEBHOOK_SECRETS: secrets } : {}),
      });
  } catch (error) {
    await api.close();
    await temporal.close();
    throw error;
  }
  return {
    api,
    dataDir,
    worker,
    acme: createClient({ baseUrl: api.baseUrl, apiKey: KEYS.acme }),
    umbrella: createClient({ baseUrl: api.baseUrl, apiKey: KEYS.umbrella }),
    anonymous: createClient({ baseUrl: api.baseUrl }),
    async close() {
      if (worker && worker.exitCode === null) {
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.kill('SIGKILL');
        await exited;
      }
      await api.close();
      await temporal.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
