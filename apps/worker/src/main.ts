import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
import { webhookSecretsFromConfig } from '@oneflow/contracts';
import { pino } from 'pino';
import { storeFromSettings } from '@oneflow/store';
import { serviceConfigOrExit } from '@oneflow/contracts/temporal-connection';
import { workerEnvSchema } from './env.js';
import { WorkerMetrics } from './metrics.js';
import { modelDirs } from '@oneflow/runtime';
import { checkpointIdOf, loadModels, SamplerEngine } from './sampler-engine.js';
import { installSdkLogger } from './sdk-logger.js';
import { createCollector, ensureGcSchedule } from './gc/setup.js';
import { retentionPolicyFromEnv } from './gc/policy.js';
import { createWorkers } from './worker.js';
import { ownershipRecorder, temporalTenantOf } from './activities/index.js';
import { CheckpointOwners } from '@oneflow/engine';

// Address, namespace, TLS / mTLS and API key: the same parser as the API's.
const { env, temporal } = serviceConfigOrExit('oneflow-worker', workerEnvSchema);
const logger = pino({ name: 'oneflow-worker', level: env.LOG_LEVEL });
installSdkLogger(logger, env.SDK_LOG_LEVEL);

const metrics = new WorkerMetrics();
const servesModels = env.WORKER_QUEUES.includes('gpu');
const dirs = servesModels ? modelDirs(env.ONEFLOW_MODELS) : [];
// Each model is loaded once per process: its sessions live in the runner's worker threads.
// A bad model directory stops the worker before it polls anything: it never serves half its models.
const models = await loadModels(dirs, {
  threads: env.MODEL_THREADS,
  maxBatch: env.MODEL_MAX_BATCH,
  ...(env.MODEL_EXECUTION_PROVIDER ? { executionProvider: env.MODEL_EXECUTION_PROVIDER } : {}),
}).catch((error: unknown) => {
  logger.fatal({ dirs, reason: error instanceof Error ? error.message : String(error) }, 'cannot load the models; not starting');
  process.stderr.write(`oneflow-worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
for (const [name, m] of models) metrics.watchRunner(name, m.runner);
const store = storeFromSettings(env, checkpointIdOf);
const engine = models.size > 0 ? new SamplerEngine(models, store) : undefined;
if (servesModels && !engine) logger.warn({ dirs }, 'no model found: this worker serves the smoke workflow only');
// Enough concurrent steps to fill the micro-batches (a guided step sends two rows).
const slots = env.ACTIVITY_SLOTS ?? Math.max(1, Math.floor((env.MODEL_THREADS * env.MODEL_MAX_BATCH) / 2));

// Signing secrets by tenant, from the same configuration as the API's (never in workflow inputs).
const keyFileEntries = env.ONEFLOW_API_KEYS_FILE
  ? z
      .array(z.looseObject({ tenant: z.string(), webhookSecret: z.string().optional() }))
      .parse(JSON.parse(readFileSync(env.ONEFLOW_API_KEYS_FILE, 'utf8')))
  : [];
const webhookSecrets = webhookSecretsFromConfig(env.ONEFLOW_WEBHOOK_SECRETS, keyFileEntries);

// Retention: the policy is read at boot (a bad one stops the worker), the collector runs on the CPU queue.
const servesWorkflows = env.WORKER_QUEUES.includes('cpu');
let policy;
try {
  policy = retentionPolicyFromEnv(env);
} catch (error) {
  process.stderr.write(`oneflow-worker: ${(error as Error).message}\n`);
  process.exit(2);
}

const metricsServer = env.METRICS_PORT !== undefined ? await metrics.serve(env.METRICS_PORT, env.METRICS_HOST) : undefined;
const connection = await NativeConnection.connect(temporal.connection);
// A client for the collector (workflow workers) and for the tenants of generations (model workers).
const clientConnection = servesWorkflows || engine ? await Connection.connect(temporal.connection) : undefined;
const client = clientConnection ? new Client({ connection: clientConnection, namespace: temporal.namespace }) : undefined;
const collector = client && servesWorkflows ? createCollector({ store, client, policy, logger }) : undefined;
const ownership = client && engine ? ownershipRecorder(new CheckpointOwners(store.records), temporalTenantOf(client)) : undefined;
if (client && servesWorkflows) await ensureGcSchedule(client, env.ONEFLOW_GC_SCHEDULE, logger);
const workers = await createWorkers({
  connection,
  namespace: temporal.namespace,
  logger,
  metrics,
  maxConcurrentActivities: slots,
  queues: env.WORKER_QUEUES,
  webhookSecrets,
  ...(engine ? { engine } : {}),
  ...(collector ? { collector } : {}),
  ...(ownership ? { ownership } : {}),
});
logger.info(
  {
    address: temporal.address,
    namespace: temporal.namespace,
    temporal: { tls: temporal.summary.tls, mtls: temporal.summary.mtls, apiKey: temporal.summary.apiKey },
    models: [...models.keys()],
    modelFormats: Object.fromEntries([...models].map(([name, m]) => [name, m.info.format])),
    store: store.location,
    activitySlots: slots,
    queues: env.WORKER_QUEUES,
    metrics: metricsServer?.url ?? null,
    webhookTenants: [...webhookSecrets.keys()],
  },
  'worker ready',
);
// Temporal's runtime turns SIGINT/SIGTERM into a graceful shutdown: activities in flight are
// cancelled, stop between steps, and are retried from their last heartbeat elsewhere.
await workers.run();
await connection.close();
await clientConnection?.close();
for (const m of models.values()) await m.runner.close();
await metricsServer?.close();
logger.info('worker stopped');
