import { tracked } from '@trpc/server';
import { batchCancelSchema, batchPageSchema, batchViewSchema } from '../outputs.js';
import { createBatchInput, idInput, listBatchesInput, watchInput } from '../schemas.js';
import { cancelBatch, createBatch, getBatch, listBatches, watchBatch } from '../services/batches.js';
import { authedProcedure, rest, router } from '../trpc.js';

export type { BatchView, BatchViewState } from '../outputs.js';

const B = 'batches';

export const batchesRouter = router({
  /** Many generations as one job (bounded concurrency); each item is a generation of its own (`<batch id>-<index>`). */
  create: authedProcedure
    .meta(rest('POST', '/batches', B, 'Start a batch of generations'))
    .input(createBatchInput)
    .output(batchViewSchema)
    .mutation(({ ctx, input }) => createBatch(ctx.scope, input)),

  get: authedProcedure
    .meta(rest('GET', '/batches/{id}', B, 'A batch: state, counts, items'))
    .input(idInput)
    .output(batchViewSchema)
    .query(({ ctx, input }) => getBatch(ctx.scope, input.id)),

  list: authedProcedure
    .meta(rest('GET', '/batches', B, "The tenant's batches, newest first"))
    .input(listBatchesInput)
    .output(batchPageSchema)
    .query(({ ctx, input }) => listBatches(ctx.scope, input)),

  /**
   * The batch's progress as server-sent events: its view whenever an item starts or finishes or the
   * batch's state changes; ends when the batch does. `tracked` ids resume after `lastEventId`.
   */
  watch: authedProcedure.input(watchInput).subscription(async function* ({ ctx, input, signal }) {
    for await (const { id, view } of watchBatch(ctx.scope, input, signal)) yield tracked(id, view);
  }),

  /** Cancels the batch: running items stop between steps (each keeps its newest checkpoint), no new item starts. */
  cancel: authedProcedure
    .meta(rest('POST', '/batches/{id}/cancel', B, 'Cancel a batch'))
    .input(idInput)
    .output(batchCancelSchema)
    .mutation(({ ctx, input }) => cancelBatch(ctx.scope, input.id)),
});
