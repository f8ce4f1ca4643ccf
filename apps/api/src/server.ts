import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Logger } from 'pino';
import { KeyRing } from './auth.js';
import { createContextFactory, type InnerContext } from './context.js';
import { handleImage, isImageRoute } from './images.js';
import { openApiDocument, REST_BASE_PATH } from './openapi.js';
import { createRestHandler } from './rest.js';
import { createStaticHandler, DEFAULT_WEB_DIR, isApiPath } from './static.js';
import { appRouter } from './routers/_app.js';

export interface ApiServer {
  /** Base URL of the tRPC endpoint, e.g. http://127.0.0.1:3000/trpc */
  url: string;
  /** Base URL of the server (PNG routes live under it), e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  /** Drops every open connection (tests: a network cut under a running `watch`). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** Request bodies larger than this are refused (8 input images of 400 kB base64 fit). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Serves the tRPC router under `/trpc` (SSE subscriptions included) and the PNG routes, over plain HTTP. */
export async function createApiServer(options: {
  inner: InnerContext;
  host: string;
  port: number;
  logger: Logger;
  keys?: KeyRing;
  /** The built web app served at `/` (default `apps/web/dist`); null: none. */
  webDir?: string | null;
}): Promise<ApiServer> {
  const keys = options.keys ?? new KeyRing([]);
  const trpc = createHTTPHandler({
    basePath: '/trpc/',
    router: appRouter,
    maxBodySize: MAX_BODY_BYTES,
    createContext: createContextFactory(options.inner, keys),
    onError({ error, path }) {
      // Only our own faults are logged, and never the raw input.
      if (error.code === 'INTERNAL_SERVER_ERROR') options.logger.error({ path, err: error }, 'procedure failed');
    },
  });
  // The same procedures as the REST routes of the OpenAPI document, same keys and limits.
  const rest = createRestHandler({ inner: options.inner, keys, logger: options.logger, maxBodyBytes: MAX_BODY_BYTES });
  const site = options.webDir === null ? null : createStaticHandler(options.webDir ?? DEFAULT_WEB_DIR);
  let openapi: string | null = null;
  let baseUrl = '';
  const server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (pathname.startsWith('/trpc/')) {
      trpc(req, res);
      return;
    }
    if (pathname === '/openapi.json' && req.method === 'GET') {
      openapi ??= JSON.stringify(openApiDocument(baseUrl, options.inner.version));
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
      res.end(openapi);
      return;
    }
    if (pathname.startsWith(`${REST_BASE_PATH}/`)) {
      rest(req, res, pathname.slice(REST_BASE_PATH.length)).catch((err: unknown) =>
        options.logger.error({ err, path: pathname }, 'REST route failed'),
      );
      return;
    }
    if (isImageRoute(pathname)) {
      handleImage(req, res, options.inner, keys).catch((err: unknown) =>
        options.logger.error({ err, path: pathname }, 'image route failed'),
      );
      return;
    }
    if (site && (req.method === 'GET' || req.method === 'HEAD') && !isApiPath(pathname)) {
      site(req, res, pathname).catch((err: unknown) => options.logger.error({ err, path: pathname }, 'static file failed'));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such route' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${options.host}:${port}`;
  return {
    url: `${baseUrl}/trpc`,
    baseUrl,
    dropConnections: () => server.closeAllConnections(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
