import type { WebhookTarget } from './webhook.js';
import { z } from 'zod';

/** Checkpoint ids are the SHA-256 (hex) of the checkpoint's encoding. */
export const checkpointIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a checkpoint id is 64 lowercase hex characters');

/**
 * Sampler settings a branch may change (docs/algorithm.md §5). Guidance weights, 1 = off: `guidance` on the
 * text (insertion rates and tokens, against the prompt-free twin), `imageGuidance` on image
 * velocities (against the text-free twin; docs/decisions.md "Image guidance").
 */
export const samplerOverridesSchema = z
  .object({
    steps: z.number().int().min(1).max(1024),
    guidance: z.number().min(0).max(20),
    imageGuidance: z.number().min(0).max(20),
    temperature: z.number().gt(0).max(10),
    topK: z.number().int().min(0).max(100_000),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
  })
  .partial()
  .strict();
export type SamplerOverrides = z.infer<typeof samplerOverridesSchema>;

/**
 * Refinement operations (docs/algorithm.md §6), applied to a checkpoint before sampling continues.
 * The source of the `RefineOp` type: the sampler's handler table is checked against it.
 */
export const refineOpSchema = z.discriminatedUnion('op', [
  z
    .object({
      op: z.literal('renoiseImage'),
      image: z.number().int().min(0).max(255).describe("the generated image to re-noise, as the generation's images count them"),
      to: z.number().min(0).max(1).describe('the time it goes back to (0 = pure noise, 1 = as it is)'),
    })
    .strict(),
  z
    .object({
      op: z.literal('deleteText'),
      start: z.number().int().min(0).describe('first generated token to delete (0 = the first after the prompt, as in pieces)'),
      end: z.number().int().min(0).describe('one past the last generated token to delete'),
      reopenTo: z.number().min(0).max(1).describe('the text clock to go back to (never forward)'),
    })
    .strict(),
  z.object({ op: z.literal('replacePrompt'), prompt: z.string().min(1).max(2000) }).strict(),
]);
export type RefineOp = z.infer<typeof refineOpSchema>;

/** Where a generation starts: a fresh request, or any checkpoint of an earlier generation. */
export const generationRootSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('new'),
    /** Engine-specific request (prompt, images, sampler settings), validated by the engine. */
    request: z.unknown(),
  }),
  z.object({
    kind: z.literal('checkpoint'),
    /** A checkpoint id; with `atStep`, the head of a generation whose step-`atStep` ancestor to start from. */
    checkpointId: checkpointIdSchema,
    atStep: z.number().int().min(0).max(100_000).optional(),
    overrides: samplerOverridesSchema.optional(),
    refine: refineOpSchema.optional(),
    /** Lineage: which generation the checkpoint came from. */
    parentGenerationId: z.string().max(200).optional(),
  }),
  /** Continue exactly where a canceled or failed run stopped (no new root checkpoint). */
  z.object({
    kind: z.literal('resume'),
    checkpointId: checkpointIdSchema,
    parentGenerationId: z.string().max(200).optional(),
  }),
]);
export type GenerationRoot = z.infer<typeof generationRootSchema>;

export const GENERATION_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'expired'] as const;
export type GenerationState = (typeof GENERATION_STATES)[number];

/** What one checkpoint looks like from outside: enough to show progress, no tensors. */
export interface CheckpointSummary {
  checkpointId: string;
  parentId: string | null;
  model: string;
  step: number;
  /**
   * The step the generation is expected to end at: `step` + the steps its slowest clock still
   * needs. Not the sampler's `steps` parameter, which is per clock: an image inserted late runs
   * its own `steps` steps, so a 32-step generation can end at step 60. Grows while images are
   * still being inserted; equals `step` once done.
   */
  steps: number;
  done: boolean;
  tText: number;
  /** Generated text so far, `<image>` marking each image slot. */
  text: string;
  /** The generated tokens' surface texts, in order (`text` is their concatenation): a viewer shows insertions in place. */
  pieces: string[];
  /** Clock of each generated image, in order (1 = clean). */
  imageClocks: number[];
}

export interface GenerationWorkflowInput {
  generationId: string;
  root: GenerationRoot;
  /** Steps per `advance` activity (a checkpoint is still written after every step); with `minActivityMs`, the first activity's. */
  stepsPerActivity: number;
  /**
   * Adaptive steps per activity: each `advance` after the first runs the steps that fill about
   * this much step time at the previous activity's ms per step ({@link adaptiveStepsPerActivity}).
   * Decided from activity results recorded in the history, so a replay decides the same. Unset:
   * every activity runs `stepsPerActivity` steps.
   */
  minActivityMs?: number;
  tenant?: string;
  batchId?: string;
  /** POSTed (signed) when the generation succeeds, fails, is canceled or expires. */
  webhook?: WebhookTarget;
  /** When Temporal's execution timeout ends the generation (set with a deadline; ISO 8601). */
  deadlineAt?: string;
  /** A worker that stops heartbeating for this long is presumed dead and its step loop moves on (default 20). */
  heartbeatTimeoutSeconds?: number;
  /** Forces continue-as-new after this many activities (tests). */
  continueAsNewEvery?: number;
  /**
   * Continue-as-new once this run's history has this many events (default
   * CONTINUE_AS_NEW_HISTORY_EVENTS). Decided from `workflowInfo().historyLength`, which replays
   * deterministically; the server's `continueAsNewSuggested` hint is not used (a worker replaying
   * after another was killed could read it differently from the run that wrote the history).
   */
  continueAsNewAfterEvents?: number;
  /** Carried across continue-as-new. */
  carry?: {
    head: CheckpointSummary;
    root: CheckpointSummary;
    activities: number;
    stepMs: number;
    runs: number;
    /** The adaptive steps per activity reached (with `minActivityMs`). */
    stepsPerActivity?: number;
  };
}

/**
 * The generation as its workflow sees it: the head is the newest checkpoint of the last finished
 * `advance` activity (at most `stepsPerActivity` steps behind); the step in flight is in the
 * pending activity's heartbeat details `{step, checkpointId}` (DescribeWorkflowExecution).
 */
export interface GenerationStatus {
  generationId: string;
  state: GenerationState;
  step: number;
  tText: number;
  text: string;
  imageClocks: number[];
  headCheckpointId: string | null;
  rootCheckpointId: string | null;
  parentGenerationId: string | null;
  error: string | null;
  timings: { activities: number; stepMs: number; runs: number };
}

export interface GenerationResult {
  generationId: string;
  final: CheckpointSummary;
  rootCheckpointId: string;
  timings: GenerationStatus['timings'];
}

/** Input and result of the `advance` activity: it never carries tensors either. */
export interface AdvanceInput {
  checkpointId: string;
  maxSteps: number;
}
export interface AdvanceResult {
  head: CheckpointSummary;
  stepsRun: number;
  stoppedBy: 'done' | 'maxSteps' | 'cancelled';
  ms: number;
}

export const statusQueryName = 'status';

/** Failure types of permanent faults: the workflows' retry policies never retry them. */
export const NON_RETRYABLE_FAILURES = ['BadRequest', 'CheckpointNotFound', 'CorruptCheckpoint'] as const;

/** A new generation as clients ask for it; unset sampler settings take the model's defaults. */
export const generationRequestSchema = z
  .object({
    model: z.string().min(1).max(100),
    /** Words of the model's vocabulary; each `<image>` takes the next input image. */
    prompt: z.string().max(2000),
    /** Input images as base64-encoded PNG (the model's latent size, e.g. 28×28 grey). */
    images: z.array(z.string().min(1).max(400_000)).max(8).default([]),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
  })
  .extend(samplerOverridesSchema.omit({ seed: true }).shape)
  .strict();
export type GenerationRequest = z.input<typeof generationRequestSchema>;

export interface BatchWorkflowInput {
  batchId: string;
  items: { generationId: string; root: GenerationRoot }[];
  /** Generations running at once. */
  concurrency: number;
  stepsPerActivity: number;
  /** Adaptive steps per activity for every item (GenerationWorkflowInput.minActivityMs). */
  minActivityMs?: number;
  tenant?: string;
  heartbeatTimeoutSeconds?: number;
  /** Every item's generation delivers its final state to this webhook. */
  webhook?: WebhookTarget;
}

export interface BatchItemStatus {
  generationId: string;
  state: GenerationState;
  final: CheckpointSummary | null;
  error: string | null;
}

export type BatchState = 'running' | 'succeeded' | 'partial' | 'failed' | 'canceled';

export interface BatchStatus {
  batchId: string;
  state: BatchState;
  items: BatchItemStatus[];
  counts: Record<GenerationState, number>;
}

/** Most items one batch workflow runs (its history holds one child per item). */
export const MAX_BATCH_ITEMS = 500;

/**
 * Steps per `advance` activity unless a caller says otherwise: the smallest k whose end-to-end
 * time through Temporal stayed within 1.15× of the in-process loop in bench/results/pipeline.json
 * (`node --import tsx bench/pipeline/bench.ts`). A checkpoint is still written after every step.
 */
export const DEFAULT_STEPS_PER_ACTIVITY = 32;

/**
 * Step time one adaptive `advance` activity aims for (GenerationWorkflowInput.minActivityMs): about
 * 2 s keeps Temporal's round trip per activity (tens of ms here) a few percent of the model time
 * whatever the model's size (bench/results/scale.json: `node --import tsx bench/scale/bench.ts`).
 */
export const DEFAULT_MIN_ACTIVITY_MS = 2000;
/** Most steps one adaptive activity runs (a fast model would otherwise run thousands). */
export const MAX_STEPS_PER_ACTIVITY = 1024;

/**
 * Steps for the next adaptive activity: those that fill `minActivityMs` at the ms per step the
 * last one measured, between 1 and MAX_STEPS_PER_ACTIVITY; `previous` when the last one ran no
 * step (nothing measured). Pure: the workflow calls it on results recorded in its history.
 */
export function adaptiveStepsPerActivity(last: Pick<AdvanceResult, 'ms' | 'stepsRun'>, minActivityMs: number, previous: number): number {
  if (last.stepsRun <= 0) return previous;
  // `ms` is whole milliseconds: 0 means under 1 ms for all of the steps
  const msPerStep = Math.max(last.ms, 1) / last.stepsRun;
  return Math.min(MAX_STEPS_PER_ACTIVITY, Math.max(1, Math.ceil(minActivityMs / msPerStep)));
}

/**
 * A generation run continues as new at this many history events (about 8 per activity) or at
 * CONTINUE_AS_NEW_HISTORY_BYTES, far below Temporal's hard limits (51,200 events, 50 MB).
 */
export const CONTINUE_AS_NEW_HISTORY_EVENTS = 4000;
export const CONTINUE_AS_NEW_HISTORY_BYTES = 4 * 1024 * 1024;
