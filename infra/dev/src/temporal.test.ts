import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '@oneflow/contracts';
import { freePort } from './ports.js';
import { readTemporalState, startTemporalDev, stopTemporalDev, TemporalStartError } from './temporal.js';

const dirs: string[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-devstack-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) {
    await stopTemporalDev(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

async function withClient<T>(address: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

describe('embedded Temporal dev server', () => {
  it('persists to SQLite: a workflow started before a restart is still listed after it', async () => {
    const dataDir = tempDataDir();
    const port = await freePort();
    const first = await startTemporalDev({ dataDir, port, uiPort: null });
    expect(first.startedHere).toBe(true);
    expect(first.dbFile).toBe(path.join(dataDir, 'temporal', 'temporal.sqlite'));
    expect(existsSync(first.dbFile ?? '')).toBe(true);

    // idempotent: a second start finds the same server
    const again = await startTemporalDev({ dataDir, port, uiPort: null });
    expect(again.startedHere).toBe(false);
    expect(again.pid).toBe(first.pid);

    const workflowId = `persisted-${Date.now()}`;
    // No worker polls this queue, so the workflow stays open across the restart.
    await withClient(first.address, (client) =>
      client.workflow.start('nobodyRunsThis', { taskQueue: 'oneflow-test-idle', workflowId, args: [] }),
    );

    expect(await stopTemporalDev(dataDir)).toBe(true);
    expect(readTemporalState(dataDir)).toBeNull();
    expect(await stopTemporalDev(dataDir)).toBe(false);

    const second = await startTemporalDev({ dataDir, port, uiPort: null });
    expect(second.startedHere).toBe(true);
    expect(second.pid).not.toBe(first.pid);
    const described = await withClient(second.address, (client) => client.workflow.getHandle(workflowId).describe());
    expect(described.workflowId).toBe(workflowId);
    expect(described.status.name).toBe('RUNNING');
    const listed = await withClient(second.address, async (client) => {
      const ids: string[] = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) ids.push(wf.workflowId);
      return ids;
    });
    expect(listed).toEqual([workflowId]);
    await stopTemporalDev(dataDir);
  });

  it("registers the project's search attributes", async () => {
    const dataDir = tempDataDir();
    const server = await startTemporalDev({ dataDir, port: await freePort(), uiPort: null, persist: false });
    const custom = await withClient(server.address, async (client) => {
      const res = await client.connection.operatorService.listSearchAttributes({ namespace: server.namespace });
      return Object.keys(res.customAttributes ?? {});
    });
    expect(custom).toEqual(expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTES)));
    await stopTemporalDev(dataDir);
  });

  it('refuses a port some other process holds, with a typed error naming the port', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)),
    );
    try {
      const error = await startTemporalDev({ dataDir: tempDataDir(), port, uiPort: null }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TemporalStartError);
      expect((error as Error).message).toContain(`port ${port}`);
    } finally {
      blocker.close();
    }
  });
});
