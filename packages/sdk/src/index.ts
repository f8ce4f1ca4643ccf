import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from '@oneflow/api';
import type { inferRouterOutputs } from '@trpc/server';

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Health = RouterOutputs['health'];

export interface ClientOptions {
  /** Where the API listens, e.g. `http://127.0.0.1:3000` (the tRPC endpoint is `/trpc`). */
  baseUrl: string;
  apiKey?: string;
}

/** The typed OneFlow client. Imports only the router's *type*: no server code at run time. */
export function createClient(options: ClientOptions) {
  const url = new URL('trpc', options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).toString();
  const trpc = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url,
        headers: () => (options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      }),
    ],
  });
  return {
    health: (): Promise<Health> => trpc.health.query(),
  };
}
export type OneflowClient = ReturnType<typeof createClient>;
