import { z } from 'zod';

/** What the API's `health` procedure answers. */
export const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  temporal: z.object({
    address: z.string(),
    namespace: z.string(),
    reachable: z.boolean(),
  }),
  uptimeSeconds: z.number().nonnegative(),
});
export type Health = z.infer<typeof healthSchema>;

/** Input and output of the smoke workflow, the stack's end-to-end canary. */
export const smokeInputSchema = z.object({ name: z.string().min(1).max(200) });
export type SmokeInput = z.infer<typeof smokeInputSchema>;
export const smokeResultSchema = z.object({
  greeting: z.string(),
  taskQueue: z.string(),
  activityAttempt: z.number().int().positive(),
});
export type SmokeResult = z.infer<typeof smokeResultSchema>;
