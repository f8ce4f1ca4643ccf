import { proxyActivities } from '@temporalio/workflow';
import { CPU_TASK_QUEUE } from '@oneflow/contracts';
import type { Activities, GcInput } from '../activities/index.js';

const { collectCheckpoints } = proxyActivities<Activities>({
  taskQueue: CPU_TASK_QUEUE,
  // A sweep of a large bucket takes a while; it heartbeats after every deletion batch.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 minutes',
  retry: {
    initialInterval: '30 seconds',
    maximumInterval: '5 minutes',
    maximumAttempts: 3,
    nonRetryableErrorTypes: ['NoCollector', 'RefusedError'],
  },
});

export type GcResult = Awaited<ReturnType<Activities['collectCheckpoints']>>;

/** One mark-and-sweep of the checkpoint store, on the CPU queue (the retention schedule starts it). */
export async function checkpointGc(input: GcInput = {}): Promise<GcResult> {
  return collectCheckpoints(input);
}
