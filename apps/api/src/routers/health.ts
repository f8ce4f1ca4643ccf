import { healthSchema, type Health } from '@oneflow/contracts';
import { z } from 'zod';
import { publicProcedure, rest } from '../trpc.js';

/** Liveness plus whether Temporal answers; `degraded` (not an error) when it does not. */
export const healthProcedure = publicProcedure
  .meta(rest('GET', '/health', 'health', 'Liveness, and whether Temporal answers', false))
  .input(z.object({}).strict().optional())
  .output(healthSchema)
  .query(async ({ ctx }): Promise<Health> => {
    const reachable = await ctx.temporal.ping();
    return {
      status: reachable ? 'ok' : 'degraded',
      version: ctx.version,
      temporal: { address: ctx.temporal.address, namespace: ctx.temporal.namespace, reachable },
      uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
    };
  });
