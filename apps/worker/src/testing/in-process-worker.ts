import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { pino } from 'pino';
import type { CheckpointCollector } from '../activities/index.js';
import type { GenerationEngine } from '../engine.js';
import { createWorkers } from '../worker.js';

/** A real worker (both task queues) in this process plus a client, on one namespace of a test server. */
export interface InProcessWorker {
  client: Client;
  stop(): Promise<void>;
}

export async function startInProcessWorker(options: {
  address: string;
  namespace: string;
  engine?: GenerationEngine;
  webhookSecrets?: ReadonlyMap<string, string>;
  collector?: CheckpointCollector;
}): Promise<InProcessWorker> {
  const nativeConnection = await NativeConnection.connect({ address: options.address });
  const workers = await createWorkers({
    connection: nativeConnection,
    namespace: options.namespace,
    logger: pino({ level: 'silent' }),
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.webhookSecrets ? { webhookSecrets: options.webhookSecrets } : {}),
    ...(options.collector ? { collector: options.collector } : {}),
  });
  const running = workers.run();
  const connection = await Connection.connect({ address: options.address });
  return {
    client: new Client({ connection, namespace: options.namespace }),
    async stop() {
      workers.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}
