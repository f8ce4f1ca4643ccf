import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { InnerContext, TemporalGateway } from './context.js';
import type { JobScope } from './services/scope.js';
import { temporalWorkflows, type Workflows } from './services/workflows.js';

const t = initTRPC
  .context<InnerContext>()
  .meta<OpenApiMeta>()
  .create({
    // Error bodies never carry stack traces (tRPC adds them in dev mode, which it assumes when
    // NODE_ENV is unset): file paths are ours, not the client's.
    isDev: false,
    // Pings keep proxies from closing a quiet `watch`; the client reconnects with lastEventId.
    sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
  });

export const router = t.router;

/**
 * A procedure's REST route in the OpenAPI document (and under `/api` on the server), e.g.
 * `rest('GET', '/generations/{id}', 'generations', 'A generation')`. Subscriptions have none:
 * SSE `watch` is tRPC-only.
 */
export function rest(method: 'GET' | 'POST', path: `/${string}`, tag: string, summary: string, protect = true): OpenApiMeta {
  return { openapi: { method, path, tags: [tag], summary, protect } };
}
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

const gatewayWorkflows = new WeakMap<TemporalGateway, Workflows>();

/** The job services' Temporal of a context: its own, or (one per gateway) the gateway's namespace. */
export function workflowsOf(ctx: { temporal: TemporalGateway; workflows?: Workflows | undefined }): Workflows {
  if (ctx.workflows) return ctx.workflows;
  let w = gatewayWorkflows.get(ctx.temporal);
  if (!w) gatewayWorkflows.set(ctx.temporal, (w = temporalWorkflows(ctx.temporal)));
  return w;
}

/**
 * A known key is required; each call takes a token from the key's rate-limit bucket. Procedures
 * get `ctx.scope`, what the job services work with.
 */
export const authedProcedure = t.procedure.use(({ ctx, next }) => {
  const principal = ctx.principal;
  if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'a valid API key is required (Authorization: Bearer <key>)' });
  const jobs = ctx.jobs;
  if (!jobs) throw new TRPCError({ code: 'NOT_IMPLEMENTED', message: 'this server runs without the job API' });
  if (!jobs.limiter.take(principal.keyId, principal.ratePerMinute)) {
    throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: 'rate limit exceeded for this API key; retry later' });
  }
  const scope: JobScope = { workflows: workflowsOf(ctx), jobs, tenant: principal.tenant };
  return next({ ctx: { ...ctx, principal, jobs, scope } });
});
