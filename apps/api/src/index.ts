export type { AppRouter } from './routers/_app.js';
export { appRouter } from './routers/_app.js';
export { createApiServer, type ApiServer } from './server.js';
export { apiEnvSchema, type ApiEnv } from './env.js';
export type { InnerContext } from './context.js';
