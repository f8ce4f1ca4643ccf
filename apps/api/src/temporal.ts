import { Client, Connection } from '@temporalio/client';
import { plainTemporalConnection, type TemporalConnectionOptions } from '@oneflow/contracts/temporal-connection';
import type { TemporalGateway } from './context.js';

/**
 * A lazily (re)connecting gateway: the API starts even when Temporal is down, and health reports
 * `degraded` until it answers. `connection` carries TLS / API key (from `temporalConnectionFromEnv`);
 * without it, a plaintext connection to `address` (the embedded dev server, tests).
 */
export function createTemporalGateway(
  address: string,
  namespace: string,
  connection: TemporalConnectionOptions = plainTemporalConnection(address),
): TemporalGateway & { close(): Promise<void> } {
  let connecting: Promise<Connection> | null = null;
  let client: Client | null = null;
  const connect = (): Promise<Connection> => {
    connecting ??= Connection.connect({ ...connection, address, connectTimeout: '1s' }).catch((error: unknown) => {
      connecting = null;
      throw error;
    });
    return connecting;
  };
  const reset = async (): Promise<void> => {
    const stale = connecting;
    connecting = null;
    client = null;
    await stale?.then((c) => c.close()).catch(() => undefined);
  };
  return {
    address,
    namespace,
    async ping() {
      try {
        const connection = await connect();
        await connection.workflowService.getSystemInfo({});
        return true;
      } catch {
        await reset();
        return false;
      }
    },
    async client() {
      if (client) return client;
      const connection = await connect();
      client ??= new Client({ connection, namespace });
      return client;
    },
    close: reset,
  };
}
