import { proxyActivities } from '@temporalio/workflow';
import { GPU_TASK_QUEUE, type SmokeInput, type SmokeResult } from '@oneflow/contracts';
import type { Activities } from '../activities/index.js';

const { smokeGreet } = proxyActivities<Activities>({
  taskQueue: GPU_TASK_QUEUE,
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/** The stack's canary: a workflow on the CPU queue calling one activity on the GPU queue. */
export async function smoke(input: SmokeInput): Promise<SmokeResult> {
  return smokeGreet(input.name);
}
