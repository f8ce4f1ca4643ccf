export type { AppRouter } from './routers/_app.js';
export { appRouter } from './routers/_app.js';
export { createApiServer, type ApiServer } from './server.js';
export { createTemporalGateway } from './temporal.js';
export { apiEnvSchema, type ApiEnv } from './env.js';
export type { InnerContext, TemporalGateway } from './context.js';
