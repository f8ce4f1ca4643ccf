import { initTRPC, TRPCError } from '@trpc/server';
import type { InnerContext } from './context.js';

const t = initTRPC.context<InnerContext>().create({
  // Pings keep proxies from closing a quiet `watch`; the client reconnects with lastEventId.
  sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

/** A known key is required; each call takes a token from the key's rate-limit bucket. */
export const authedProcedure = t.procedure.use(({ ctx, next }) => {
  const principal = ctx.principal;
  if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'a valid API key is required (Authorization: Bearer <key>)' });
  const jobs = ctx.jobs;
  if (!jobs) throw new TRPCError({ code: 'NOT_IMPLEMENTED', message: 'this server runs without the job API' });
  if (!jobs.limiter.take(principal.keyId, principal.ratePerMinute)) {
    throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: 'rate limit exceeded for this API key; retry later' });
  }
  return next({ ctx: { ...ctx, principal, jobs } });
});
