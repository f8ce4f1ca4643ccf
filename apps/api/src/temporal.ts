import { Connection } from '@temporalio/client';
import type { TemporalGateway } from './context.js';

/**
 * A lazily (re)connecting gateway: the API starts even when Temporal is down, and health reports
 * `degraded` until it answers.
 */
export function createTemporalGateway(address: string, namespace: string): TemporalGateway & { close(): Promise<void> } {
  let connection: Connection | null = null;
  return {
    address,
    namespace,
    async ping() {
      try {
        connection ??= await Connection.connect({ address, connectTimeout: '1s' });
        await connection.workflowService.getSystemInfo({});
        return true;
      } catch {
        const stale = connection;
        connection = null;
        await stale?.close().catch(() => undefined);
        return false;
      }
    },
    async close() {
      await connection?.close();
      connection = null;
    },
  };
}
