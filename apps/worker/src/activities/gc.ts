import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { GcReport } from '../gc/collector.js';
import type { WorkerMetrics } from '../metrics.js';

/** One collection over the worker's store and namespace (built once per worker: see gc/collector.ts). */
export interface CheckpointCollector {
  run(options: { dryRun: boolean; onProgress?: (p: { deleted: number; candidates: number }) => void }): Promise<GcReport>;
}

export interface GcInput {
  /** Report what would be reclaimed; delete nothing, write no index. */
  dryRun?: boolean;
}

export function createGcActivities({
  collector,
  logger,
  metrics,
}: {
  collector?: CheckpointCollector;
  logger: Logger;
  metrics?: WorkerMetrics;
}) {
  return {
    /** Mark and sweep the checkpoint store; heartbeats after each deletion batch (a retry starts over, which is safe). */
    async collectCheckpoints(input: GcInput): Promise<GcReport> {
      if (!collector) throw ApplicationFailure.nonRetryable('this worker has no checkpoint collector', 'NoCollector');
      const ctx = Context.current();
      try {
        const report = await collector.run({ dryRun: input.dryRun ?? false, onProgress: (p) => ctx.heartbeat(p) });
        metrics?.recordGc(report);
        return report;
      } catch (error) {
        metrics?.recordGcFailure();
        logger.error({ err: error }, 'checkpoint collection failed');
        throw error;
      }
    },
  };
}
