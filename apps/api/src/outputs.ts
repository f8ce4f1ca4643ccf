import { z } from 'zod';
import { GENERATION_STATES } from '@oneflow/contracts';

// What the procedures answer, as zod schemas: the SDK's types come from them (through the router's
// type) and so does the OpenAPI document (docs/openapi.json, GET /openapi.json).

const state = z.enum(GENERATION_STATES);
const iso = z.string().describe('ISO 8601 time');
const checkpointId = z.string().describe('SHA-256 (hex) of a checkpoint');

export const imageViewSchema = z.object({
  index: z.number().int(),
  clock: z.number().describe("the image's own clock in [0, 1] (1 = clean)"),
  url: z.string().describe("PNG of this image at the generation's newest step, relative to the API's base URL"),
});
export type ImageView = z.infer<typeof imageViewSchema>;

export const generationViewSchema = z.object({
  id: z.string(),
  state,
  model: z.string().nullable(),
  batchId: z.string().nullable(),
  parentId: z.string().nullable(),
  createdAt: iso,
  finishedAt: iso.nullable(),
  step: z.number().int(),
  steps: z
    .number()
    .int()
    .nullable()
    .describe(
      'the step at which the generation is expected to end: step + the steps its slowest clock still needs (grows when an image is inserted late; equals step when done)',
    ),
  tText: z.number(),
  text: z.string().describe('generated text so far; <image> marks each image slot'),
  images: z.array(imageViewSchema),
  checkpointId: checkpointId.nullable().describe('the newest checkpoint (the step in flight, from the activity heartbeat, when newer)'),
  rootCheckpointId: checkpointId.nullable(),
  error: z.string().nullable(),
  queuePosition: z
    .number()
    .int()
    .nullable()
    .describe(
      'while queued: generations (of every tenant) at step 0 started before this one and still running — an estimate; null otherwise',
    ),
});
export type GenerationView = z.infer<typeof generationViewSchema>;

export const generationSummarySchema = z.object({
  id: z.string(),
  state,
  model: z.string().nullable(),
  batchId: z.string().nullable(),
  parentId: z.string().nullable(),
  step: z.number().int(),
  checkpointId: checkpointId.nullable(),
  createdAt: iso,
  finishedAt: iso.nullable(),
});
export type GenerationSummary = z.infer<typeof generationSummarySchema>;

export const generationPageSchema = z.object({ items: z.array(generationSummarySchema), nextCursor: z.string().nullable() });

export const lineageNodeSchema = generationSummarySchema.extend({
  rootCheckpointId: checkpointId.nullable(),
  branchedFrom: z
    .object({ checkpointId, step: z.number().int() })
    .nullable()
    .describe("the checkpoint this generation branched from (its root's parent) and that checkpoint's step"),
});
export type LineageNode = z.infer<typeof lineageNodeSchema>;
export const lineageSchema = z.object({ rootId: z.string(), nodes: z.array(lineageNodeSchema) });

/** One finished step of a generation, for timelines. */
export const stepSnapshotSchema = z.object({
  step: z.number().int(),
  checkpointId,
  text: z.string().describe('generated text at this step; <image> marks each image slot'),
  pieces: z
    .array(z.string())
    .describe("each generated token's surface text, in order (they concatenate to text): where insertions happened"),
  imageClocks: z.array(z.number()).describe("each generated image's clock in [0, 1] (1 = clean)"),
  tText: z.number(),
  done: z.boolean(),
});
export type StepSnapshot = z.infer<typeof stepSnapshotSchema>;
export const stepPageSchema = z.object({
  items: z.array(stepSnapshotSchema).describe('oldest first'),
  nextStep: z.number().int().nullable().describe('fromStep of the next page; null when there are no more steps (yet)'),
});
export type StepPage = z.infer<typeof stepPageSchema>;

/** A pinned step: retention never collects its checkpoint. */
export const pinViewSchema = z.object({ generationId: z.string(), step: z.number().int(), checkpointId: z.string(), pinnedAt: z.string() });
export type PinView = z.infer<typeof pinViewSchema>;
export const unpinViewSchema = z.object({ generationId: z.string(), step: z.number().int(), unpinned: z.boolean() });

/** One `generations.watch` event: the generation at one step (every step is reported, in order) or a state change. */
export interface WatchEvent {
  state: (typeof GENERATION_STATES)[number];
  step: number;
  steps: number | null;
  tText: number;
  text: string;
  /** The generated tokens' surface texts (they concatenate to `text`). */
  pieces: string[];
  images: { index: number; clock: number }[];
  checkpointId: string | null;
  error: string | null;
}

export const BATCH_VIEW_STATES = ['running', 'succeeded', 'partial', 'failed', 'canceled', 'expired'] as const;
export type BatchViewState = (typeof BATCH_VIEW_STATES)[number];

export const batchViewSchema = z.object({
  id: z.string(),
  state: z.enum(BATCH_VIEW_STATES),
  counts: z.object(
    Object.fromEntries(GENERATION_STATES.map((s) => [s, z.number().int()])) as Record<(typeof GENERATION_STATES)[number], z.ZodNumber>,
  ),
  items: z.array(
    z.object({ id: z.string(), state, step: z.number().int().nullable(), text: z.string().nullable(), error: z.string().nullable() }),
  ),
  createdAt: iso,
  finishedAt: iso.nullable(),
});
export type BatchView = z.infer<typeof batchViewSchema>;

export const batchPageSchema = z.object({
  items: z.array(z.object({ id: z.string(), state: z.enum(BATCH_VIEW_STATES), createdAt: iso, finishedAt: iso.nullable() })),
  nextCursor: z.string().nullable(),
});

export const batchCancelSchema = z.object({ id: z.string(), cancelRequested: z.literal(true) });

export const modelInfoSchema = z.object({
  name: z.string(),
  format: z.string().describe('the model format (contract version), e.g. oneflow-v1 or oneflow-v2'),
  imageShape: z
    .tuple([z.number().int(), z.number().int(), z.number().int()])
    .describe('[C, H, W] of input and output images (C = 1 grey, 3 RGB; input images are resized to H × W)'),
  latentShape: z
    .tuple([z.number().int(), z.number().int(), z.number().int()])
    .describe('[C, H, W] of the latents the model denoises (= imageShape when it has no autoencoder)'),
  maxTokens: z.number().int(),
  maxImages: z.number().int(),
  defaults: z.object({
    steps: z.number().int(),
    guidance: z.number(),
    imageGuidance: z.number(),
    temperature: z.number(),
    topK: z.number().int(),
  }),
  tokenizer: z.enum(['word', 'subword']).describe('word: prompts use only `vocabulary`; subword: free text'),
  vocabulary: z
    .array(z.string())
    .nullable()
    .describe('for word-level models, the words a prompt may use (<image> takes the next input image); null for subword tokenizers'),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;
