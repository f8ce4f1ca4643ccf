import { z } from 'zod';
import {
  webhookSchema,
  checkpointIdSchema,
  GENERATION_STATES,
  generationRequestSchema,
  MAX_BATCH_ITEMS,
  refineOpSchema,
  samplerOverridesSchema,
} from '@oneflow/contracts';

/** Ids the API hands out (`gen-…`, `batch-…`, `batch-…-3`): what a workflow id of ours looks like. */
export const jobIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'an id is 1-128 letters, digits, ., _ or -');
/** A filter value that goes into a visibility query: no quotes, no spaces. */
const filterValue = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'a filter value is 1-128 letters, digits, ., _, : or -');
export const idempotencyKeySchema = z.string().min(1).max(200);
/** Seconds until the job is `expired` if it has not finished (a week at most). */
export const deadlineSchema = z
  .number()
  .int()
  .min(1)
  .max(7 * 24 * 3600);
const step = z.number().int().min(0).max(100_000);

export const createGenerationInput = z
  .object({
    ...generationRequestSchema.shape,
    idempotencyKey: idempotencyKeySchema.optional(),
    deadlineSeconds: deadlineSchema.optional(),
    webhook: webhookSchema.optional(),
  })
  .strict();
export type CreateGenerationInput = z.input<typeof createGenerationInput>;

export const idInput = z.object({ id: jobIdSchema }).strict();

export const listGenerationsInput = z
  .object({
    state: z.enum(GENERATION_STATES).optional(),
    model: filterValue.optional(),
    batchId: filterValue.optional(),
    parentId: filterValue.optional(),
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^[A-Za-z0-9_-]+$/, 'a cursor is base64url')
      .optional(),
  })
  .strict();

/** Where a branch starts: a generation (its newest checkpoint, or the one at `step`) or any checkpoint id. */
const branchFrom = z.union([
  z.object({ generationId: jobIdSchema, step: step.optional() }).strict(),
  z.object({ checkpointId: checkpointIdSchema }).strict(),
]);

export const branchInput = z
  .object({
    from: branchFrom,
    overrides: samplerOverridesSchema.optional(),
    idempotencyKey: idempotencyKeySchema.optional(),
    deadlineSeconds: deadlineSchema.optional(),
    webhook: webhookSchema.optional(),
  })
  .strict();

export const refineInput = z
  .object({
    from: branchFrom,
    op: refineOpSchema,
    overrides: samplerOverridesSchema.optional(),
    idempotencyKey: idempotencyKeySchema.optional(),
    deadlineSeconds: deadlineSchema.optional(),
    webhook: webhookSchema.optional(),
  })
  .strict();

/** A step of a generation (pins). */
export const pinInput = z.object({ id: jobIdSchema, step: step }).strict();

export const stepsInput = z
  .object({
    id: jobIdSchema,
    /** The first step wanted (default: the generation's first). */
    fromStep: step.optional(),
    limit: z.number().int().min(1).max(500).default(200),
  })
  .strict();

export const watchInput = z
  .object({
    id: jobIdSchema,
    /** Set by the client on reconnect (tracked events): the stream resumes right after it. */
    lastEventId: z.string().max(100).nullish(),
  })
  .strict();

export const createBatchInput = z
  .object({
    items: z.array(generationRequestSchema).min(1).max(MAX_BATCH_ITEMS),
    concurrency: z.number().int().min(1).max(64).default(4),
    idempotencyKey: idempotencyKeySchema.optional(),
    deadlineSeconds: deadlineSchema.optional(),
    /** Every item's final state is POSTed here (one message per item). */
    webhook: webhookSchema.optional(),
  })
  .strict();

export const listBatchesInput = z
  .object({
    state: z.enum(['running', 'succeeded', 'partial', 'failed', 'canceled']).optional(),
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^[A-Za-z0-9_-]+$/, 'a cursor is base64url')
      .optional(),
  })
  .strict();
