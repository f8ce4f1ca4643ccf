import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE, WORKFLOWS, type SmokeResult } from '@oneflow/contracts';
import { startInProcessWorker, type InProcessWorker } from '../testing/in-process-worker.js';

// A real worker (both task queues) against the real Temporal dev server the test run started.
describe('smoke workflow on the real dev server', () => {
  let worker: InProcessWorker;
  let client: Client;

  beforeAll(async () => {
    worker = await startInProcessWorker({ address: inject('temporalAddress'), namespace: 'test-smoke' });
    client = worker.client;
  });
  afterAll(() => worker.stop());

  it('runs the workflow on oneflow-cpu and its activity on oneflow-gpu', async () => {
    const result = (await client.workflow.execute(WORKFLOWS.smoke, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: `smoke-${randomUUID()}`,
      args: [{ name: 'ada' }],
    })) as SmokeResult;
    expect(result).toEqual({ greeting: 'hello, ada', taskQueue: GPU_TASK_QUEUE, activityAttempt: 1 });
  });

  it('fails fast, without retries, on bad input (non-retryable fault)', async () => {
    const error: unknown = await client.workflow
      .execute(WORKFLOWS.smoke, { taskQueue: CPU_TASK_QUEUE, workflowId: `smoke-${randomUUID()}`, args: [{ name: '   ' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activityFailure = (error as WorkflowFailedError).cause?.cause;
    expect(activityFailure).toBeInstanceOf(ApplicationFailure);
    expect((activityFailure as ApplicationFailure).type).toBe('BadInput');
    expect((activityFailure as ApplicationFailure).nonRetryable).toBe(true);
  });
});
