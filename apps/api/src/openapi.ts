import { generateOpenApiDocument } from 'trpc-to-openapi';

export type OpenApiDocument = ReturnType<typeof generateOpenApiDocument>;
import { appRouter } from './routers/_app.js';

/** Where the REST routes of the OpenAPI document are served (beside `/trpc`). */
export const REST_BASE_PATH = '/api';

/**
 * The OpenAPI 3 document of the router's queries and mutations, generated from their zod inputs
 * and outputs by trpc-to-openapi; each is also served as a REST route under {@link REST_BASE_PATH}.
 * Subscriptions (`generations.watch`, `batches.watch`: SSE) are tRPC-only and not in it.
 *
 * @param baseUrl the server's base URL as clients reach it, e.g. `http://127.0.0.1:3000`
 */
export function openApiDocument(baseUrl = 'http://127.0.0.1:3000', version = '0.1.0'): OpenApiDocument {
  return generateOpenApiDocument(appRouter, {
    title: 'OneFlow Serve API',
    description:
      'Generations of interleaved text and images as Temporal workflows. The same procedures are served as tRPC under /trpc ' +
      '(with SSE progress: generations.watch, batches.watch) and as the REST routes below. Authorization: Bearer <API key>. ' +
      'Webhooks (webhook on create) are signed as Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).',
    version,
    baseUrl: `${baseUrl.replace(/\/$/, '')}${REST_BASE_PATH}`,
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key' } },
  });
}
