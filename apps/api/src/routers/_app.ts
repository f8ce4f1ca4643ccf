import { router } from '../trpc.js';
import { batchesRouter } from './batches.js';
import { generationsRouter } from './generations.js';
import { healthProcedure } from './health.js';
import { modelsRouter } from './models.js';

export const appRouter = router({
  health: healthProcedure,
  generations: generationsRouter,
  batches: batchesRouter,
  models: modelsRouter,
});
export type AppRouter = typeof appRouter;
