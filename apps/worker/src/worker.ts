import { createRequire } from 'node:module';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '@oneflow/contracts';
import type { Logger } from 'pino';
import { createActivities, createCpuActivities } from './activities/index.js';
import type { CheckpointCollector, OwnershipRecorder } from './activities/index.js';
import type { GenerationEngine } from './engine.js';
import type { WorkerMetrics } from './metrics.js';

const require = createRequire(import.meta.url);
/** Entry of the workflow bundle; Temporal bundles it into its deterministic sandbox. */
export const workflowsPath = require.resolve('./workflows/index.ts');

export type QueueRole = 'cpu' | 'gpu';

export interface WorkerSet {
  /** Workflows: `oneflow-cpu` (absent when this process does not serve it). */
  cpu: Worker | undefined;
  /** Model steps: `oneflow-gpu`. */
  gpu: Worker | undefined;
  /** Runs the workers until `shutdown()` (or a shutdown signal), then resolves. */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * The task-queue workers of one process. The embedded default serves both queues; at scale, GPU
 * workers serve only `gpu` (and scale with its backlog) while small CPU workers run the workflows.
 */
export async function createWorkers(options: {
  connection: NativeConnection;
  namespace: string;
  logger: Logger;
  engine?: GenerationEngine;
  metrics?: WorkerMetrics;
  /** Concurrent `advance` activities on this worker (model steps in flight). */
  maxConcurrentActivities?: number;
  /** Which task queues this process serves (default both). */
  queues?: readonly QueueRole[];
  /** Webhook signing secrets per tenant (`ONEFLOW_WEBHOOK_SECRETS`, the key file's `webhookSecret`). */
  webhookSecrets?: ReadonlyMap<string, string>;
  /** Retention's mark and sweep, run by the `checkpointGc` workflow on the CPU queue. */
  collector?: CheckpointCollector;
  /** Ownership markers of the checkpoints the model activities store. */
  ownership?: OwnershipRecorder;
}): Promise<WorkerSet> {
  const queues = new Set(options.queues ?? ['cpu', 'gpu']);
  if (queues.size === 0) throw new RangeError('a worker must serve at least one task queue (cpu, gpu)');
  const activities = createActivities({
    logger: options.logger,
    ...(options.engine ? { engine: options.metrics ? options.metrics.instrument(options.engine) : options.engine } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.ownership ? { ownership: options.ownership } : {}),
  });
  const [cpu, gpu] = await Promise.all([
    queues.has('cpu')
      ? Worker.create({
          connection: options.connection,
          namespace: options.namespace,
          taskQueue: CPU_TASK_QUEUE,
          workflowsPath,
          // Light activities beside the workflows: webhook deliveries, checkpoint collection.
          activities: createCpuActivities({
            logger: options.logger,
            ...(options.webhookSecrets ? { webhookSecrets: options.webhookSecrets } : {}),
            ...(options.collector ? { collector: options.collector } : {}),
            ...(options.metrics ? { metrics: options.metrics } : {}),
          }),
        })
      : undefined,
    queues.has('gpu')
      ? Worker.create({
          connection: options.connection,
          namespace: options.namespace,
          taskQueue: GPU_TASK_QUEUE,
          activities,
          // Heartbeats are how a cancel reaches a running step loop: flushing them every 250 ms stops
          // a canceled generation within that time plus one step, at a few heartbeats a second.
          maxHeartbeatThrottleInterval: '250 milliseconds',
          ...(options.maxConcurrentActivities ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities } : {}),
        })
      : undefined,
  ]);
  const all = [cpu, gpu].filter((w): w is Worker => w !== undefined);
  return {
    cpu,
    gpu,
    async run() {
      await Promise.all(all.map((w) => w.run()));
    },
    shutdown() {
      for (const w of all) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
