import { createRequire } from 'node:module';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '@oneflow/contracts';
import type { Logger } from 'pino';
import { createActivities } from './activities/index.js';
import type { GenerationEngine } from './engine.js';
import type { WorkerMetrics } from './metrics.js';

const require = createRequire(import.meta.url);
/** Entry of the workflow bundle; Temporal bundles it into its deterministic sandbox. */
export const workflowsPath = require.resolve('./workflows/index.ts');

export interface WorkerSet {
  /** Workflows and light activities: `oneflow-cpu`. */
  cpu: Worker;
  /** Model steps: `oneflow-gpu`. */
  gpu: Worker;
  /** Runs both until `shutdown()` (or a shutdown signal), then resolves. */
  run(): Promise<void>;
  shutdown(): void;
}

/** One process serves both task queues; at scale, GPU workers run only the `gpu` half. */
export async function createWorkers(options: {
  connection: NativeConnection;
  namespace: string;
  logger: Logger;
  engine?: GenerationEngine;
  metrics?: WorkerMetrics;
  /** Concurrent `advance` activities on this worker (model steps in flight). */
  maxConcurrentActivities?: number;
}): Promise<WorkerSet> {
  const activities = createActivities({
    logger: options.logger,
    ...(options.engine ? { engine: options.metrics ? options.metrics.instrument(options.engine) : options.engine } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const [cpu, gpu] = await Promise.all([
    Worker.create({
      connection: options.connection,
      namespace: options.namespace,
      taskQueue: CPU_TASK_QUEUE,
      workflowsPath,
    }),
    Worker.create({
      connection: options.connection,
      namespace: options.namespace,
      taskQueue: GPU_TASK_QUEUE,
      activities,
      // Heartbeats are how a cancel reaches a running step loop: flushing them every 250 ms stops
      // a canceled generation within that time plus one step, at a few heartbeats a second.
      maxHeartbeatThrottleInterval: '250 milliseconds',
      ...(options.maxConcurrentActivities ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities } : {}),
    }),
  ]);
  return {
    cpu,
    gpu,
    async run() {
      await Promise.all([cpu.run(), gpu.run()]);
    },
    shutdown() {
      for (const w of [cpu, gpu]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
