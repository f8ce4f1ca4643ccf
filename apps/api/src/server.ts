import type { AddressInfo } from 'node:net';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import type { Logger } from 'pino';
import { createContextFactory, type InnerContext } from './context.js';
import { appRouter } from './routers/_app.js';

export interface ApiServer {
  /** Base URL of the tRPC endpoint, e.g. http://127.0.0.1:3000/trpc */
  url: string;
  close(): Promise<void>;
}

/** Serves the tRPC router over plain HTTP under `/trpc`. */
export async function createApiServer(options: {
  inner: InnerContext;
  host: string;
  port: number;
  logger: Logger;
}): Promise<ApiServer> {
  const server = createHTTPServer({
    basePath: '/trpc/',
    router: appRouter,
    createContext: createContextFactory(options.inner),
    onError({ error, path }) {
      // Only our own faults are logged, and never the raw input.
      if (error.code === 'INTERNAL_SERVER_ERROR') options.logger.error({ path, err: error }, 'procedure failed');
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}/trpc`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
