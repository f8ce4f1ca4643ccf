import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE, WORKFLOWS, type SmokeResult } from '@oneflow/contracts';
import { createWorkers, type WorkerSet } from '../worker.js';

// A real worker (both task queues) against the real Temporal dev server the test run started.
describe('smoke workflow on the real dev server', () => {
  let nativeConnection: NativeConnection;
  let connection: Connection;
  let client: Client;
  let workers: WorkerSet;
  let running: Promise<void>;

  beforeAll(async () => {
    const address = inject('temporalAddress');
    nativeConnection = await NativeConnection.connect({ address });
    workers = await createWorkers({ connection: nativeConnection, namespace: 'test-smoke', logger: pino({ level: 'silent' }) });
    running = workers.run();
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace: 'test-smoke' });
  });

  afterAll(async () => {
    workers.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
  });

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
