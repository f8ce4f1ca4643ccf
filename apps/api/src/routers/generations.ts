import { tracked } from '@trpc/server';
import type { GenerationRequest } from '@oneflow/contracts';
import { generationPageSchema, generationViewSchema, lineageSchema, pinViewSchema, stepPageSchema, unpinViewSchema } from '../outputs.js';
import {
  branchInput,
  createGenerationInput,
  idInput,
  listGenerationsInput,
  pinInput,
  refineInput,
  stepsInput,
  watchInput,
} from '../schemas.js';
import {
  cancelGeneration,
  createGeneration,
  deriveGeneration,
  generationSteps,
  getGeneration,
  listGenerations,
  resumeGeneration,
} from '../services/generations.js';
import { lineage } from '../services/lineage.js';
import { pinStep, unpinStep } from '../services/retention.js';
import { watchGeneration } from '../services/watch.js';
import { authedProcedure, rest, router } from '../trpc.js';

export type { GenerationSummary, LineageNode, StepPage, StepSnapshot, WatchEvent } from '../outputs.js';

const G = 'generations';

export const generationsRouter = router({
  /** Starts a generation. With `idempotencyKey`, retries (even concurrent ones) return the same generation. */
  create: authedProcedure
    .meta(rest('POST', '/generations', G, 'Start a generation'))
    .input(createGenerationInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => createGeneration(ctx.scope, input satisfies GenerationRequest)),

  get: authedProcedure
    .meta(rest('GET', '/generations/{id}', G, 'A generation: state, progress, text, images, checkpoints'))
    .input(idInput)
    .output(generationViewSchema)
    .query(({ ctx, input }) => getGeneration(ctx.scope, input.id)),

  list: authedProcedure
    .meta(rest('GET', '/generations', G, "The tenant's generations, newest first"))
    .input(listGenerationsInput)
    .output(generationPageSchema)
    .query(({ ctx, input }) => listGenerations(ctx.scope, input)),

  /** Requests cancellation: the running step finishes, the newest checkpoint is kept (`resume` continues from it). */
  cancel: authedProcedure
    .meta(rest('POST', '/generations/{id}/cancel', G, 'Cancel (the newest checkpoint is kept)'))
    .input(idInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => cancelGeneration(ctx.scope, input.id)),

  /** Continues a canceled, failed or expired generation from its newest checkpoint, under the same id. */
  resume: authedProcedure
    .meta(rest('POST', '/generations/{id}/resume', G, 'Resume a canceled, failed or expired generation'))
    .input(idInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => resumeGeneration(ctx.scope, input.id)),

  /** A new generation from a generation's step (default: its newest) or from a checkpoint id, with overrides. */
  branch: authedProcedure
    .meta(rest('POST', '/generations/branch', G, 'A new generation from any step of another, with overrides'))
    .input(branchInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => deriveGeneration(ctx.scope, input, undefined)),

  /** A branch with a refinement operation (re-noise an image, delete a text span, replace the prompt). */
  refine: authedProcedure
    .meta(rest('POST', '/generations/refine', G, 'A branch with a refinement operation'))
    .input(refineInput)
    .output(generationViewSchema)
    .mutation(({ ctx, input }) => deriveGeneration(ctx.scope, input, input.op)),

  /** The tree of branches the generation belongs to (from its topmost ancestor), flat, with checkpoints. */
  lineage: authedProcedure
    .meta(rest('GET', '/generations/{id}/lineage', G, 'The tree of branches the generation belongs to'))
    .input(idInput)
    .output(lineageSchema)
    .query(({ ctx, input }) => lineage(ctx.scope, input.id)),

  /** Every finished step (text, pieces, image clocks), oldest first, paged: a timeline. */
  steps: authedProcedure
    .meta(rest('GET', '/generations/{id}/steps', G, "A generation's finished steps, oldest first (paged by step)"))
    .input(stepsInput)
    .output(stepPageSchema)
    .query(({ ctx, input }) => generationSteps(ctx.scope, input)),

  /** Pins a step: retention never collects its checkpoint (NOT_FOUND if it already has). */
  pin: authedProcedure
    .meta(rest('POST', '/generations/{id}/pins', G, 'Pin a step (retention never collects it)'))
    .input(pinInput)
    .output(pinViewSchema)
    .mutation(({ ctx, input }) => pinStep(ctx.scope, input)),

  /** Removes a pin; the step is then kept or collected by the retention policy. */
  unpin: authedProcedure
    .meta(rest('POST', '/generations/{id}/unpin', G, 'Unpin a step'))
    .input(pinInput)
    .output(unpinViewSchema)
    .mutation(({ ctx, input }) => unpinStep(ctx.scope, input)),

  /**
   * Progress as server-sent events: every step in order (step, partial text, image clocks), then
   * state changes; ends after a final state. Events are `tracked` with id `<step>.<state>`, so a
   * reconnect (`lastEventId`) resumes right after the last event it saw.
   */
  watch: authedProcedure.input(watchInput).subscription(async function* ({ ctx, input, signal }) {
    for await (const { id, event } of watchGeneration(ctx.scope, input, signal)) yield tracked(id, event);
  }),
});
