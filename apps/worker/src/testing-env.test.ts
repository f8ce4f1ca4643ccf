import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CPU_TASK_QUEUE, WORKFLOWS, type SmokeResult } from '@oneflow/contracts';
import { localTestServerConfig, temporalBinary } from '@oneflow/devstack';
import { createWorkers } from './worker.js';

describe('@temporalio/testing', () => {
  it('starts its local server from the registry-installed CLI (existing-path, no download)', async () => {
    const server = localTestServerConfig();
    expect(server.executable).toEqual({ type: 'existing-path', path: temporalBinary() });
    const env = await TestWorkflowEnvironment.createLocal({ server });
    try {
      const workers = await createWorkers({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        logger: pino({ level: 'silent' }),
      });
      const { cpu, gpu } = workers;
      if (!cpu || !gpu) throw new Error('both task queues are served by default');
      const result = await cpu.runUntil(
        gpu.runUntil(
          env.client.workflow.execute(WORKFLOWS.smoke, {
            taskQueue: CPU_TASK_QUEUE,
            workflowId: `smoke-${randomUUID()}`,
            args: [{ name: 'testing' }],
          }) as Promise<SmokeResult>,
        ),
      );
      expect(result.greeting).toBe('hello, testing');
    } finally {
      await env.teardown();
    }
  });
});
