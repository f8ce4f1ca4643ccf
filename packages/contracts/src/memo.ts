import { z } from 'zod';
import { checkpointIdSchema } from './generation.js';
import { WEBHOOK_EVENTS, type WebhookTarget } from './webhook.js';

const webhookTargetSchema = z.object({
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
}) satisfies z.ZodType<WebhookTarget>;

/**
 * A generation's workflow memo. Two writers: the API at start (`tenant`, `requestHash`, the
 * webhook, and on resume `resumedFrom` / `originRoot`) and the generation workflow as it runs
 * (`headCheckpointId`, `rootCheckpointId`, `step`, `parentGenerationId`). The API reads it back
 * with {@link parseGenerationMemo}; ask {@link newestCheckpointOf} / {@link rootCheckpointOf}
 * instead of combining fields.
 */
export const generationMemoSchema = z.object({
  tenant: z.string().optional(),
  /** SHA-256 of the canonical request: an idempotent retry must ask the same. */
  requestHash: z.string().optional(),
  /** Newest checkpoint of the last finished `advance` activity (null before the root exists). */
  headCheckpointId: checkpointIdSchema.nullable().optional(),
  /** This run's root checkpoint (a resumed run's root is the checkpoint it resumed from). */
  rootCheckpointId: checkpointIdSchema.nullable().optional(),
  step: z.number().int().min(0).optional(),
  parentGenerationId: z.string().nullable().optional(),
  /** Set by `resume`: the kept checkpoint the new run continues from… */
  resumedFrom: checkpointIdSchema.optional(),
  /** …and the first run's root, which stays the generation's root. */
  originRoot: checkpointIdSchema.optional(),
  /** The generation's webhook (no secret): a resumed run keeps delivering to it. */
  webhook: webhookTargetSchema.optional(),
});
export type GenerationMemo = z.infer<typeof generationMemoSchema>;

/** A memo as Temporal hands it back (`undefined` before any was written); throws on a memo this code did not write. */
export function parseGenerationMemo(raw: unknown): GenerationMemo {
  const parsed = generationMemoSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`unreadable generation memo: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * The generation's newest durable checkpoint: the head; else, for a resumed run before its first
 * activity, the checkpoint it resumes from; else the root (null: no checkpoint yet, still queued).
 */
export function newestCheckpointOf(memo: GenerationMemo): string | null {
  return memo.headCheckpointId ?? memo.resumedFrom ?? memo.rootCheckpointId ?? null;
}

/** The generation's root checkpoint across resumes (the first run's root). */
export function rootCheckpointOf(memo: GenerationMemo): string | null {
  return memo.originRoot ?? memo.rootCheckpointId ?? null;
}

/** What the `advance` activity heartbeats after each step: the step in flight, before the workflow records it. */
export const advanceHeartbeatSchema = z.object({ step: z.number().int().min(0), checkpointId: z.string().min(1) });
export type AdvanceHeartbeat = z.infer<typeof advanceHeartbeatSchema>;

/** Heartbeat details as Temporal hands them back, or null when they are not an {@link AdvanceHeartbeat}. */
export function parseAdvanceHeartbeat(raw: unknown): AdvanceHeartbeat | null {
  const parsed = advanceHeartbeatSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}
