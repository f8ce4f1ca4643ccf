import { Context } from '@temporalio/activity';
import { ApplicationFailure, type ActivityCancellationDetails } from '@temporalio/common';
import {
  parseAdvanceHeartbeat,
  type AdvanceHeartbeat,
  type AdvanceInput,
  type AdvanceResult,
  type CheckpointSummary,
  type GenerationRoot,
} from '@oneflow/contracts';
import { ancestorAt } from '@oneflow/engine';
import { BlobCorruptError, BlobNotFoundError, InvalidBlobIdError } from '@oneflow/store';
import { InvalidInputError, type GenerationEngine } from '../engine.js';
import type { ActivityDeps } from './index.js';

/** Permanent faults become non-retryable failures; anything else is thrown as is and retried. */
function classify(error: unknown): unknown {
  if (error instanceof InvalidInputError || error instanceof InvalidBlobIdError) {
    return ApplicationFailure.nonRetryable(error.message, 'BadRequest');
  }
  if (error instanceof BlobNotFoundError) return ApplicationFailure.nonRetryable(error.message, 'CheckpointNotFound');
  if (error instanceof BlobCorruptError) return ApplicationFailure.nonRetryable(error.message, 'CorruptCheckpoint');
  return error;
}

function describeCancel(details: ActivityCancellationDetails | undefined): string {
  if (!details) return 'cancelled';
  const reasons = (['workerShutdown', 'timedOut', 'paused', 'reset', 'notFound'] as const).filter((k) => details[k]);
  return reasons.length > 0 ? reasons.join(', ') : 'cancelled';
}

/** The checkpoint at `step` on the chain that ends at `headId` (the nearest where a refinement made two of one step). */
async function startingPoint(engine: GenerationEngine, headId: string, step: number): Promise<string> {
  const at = await ancestorAt({ snapshot: (id) => engine.describe(id) }, headId, step);
  if (!at) throw new InvalidInputError(`no checkpoint at step ${step} on the chain that ends at ${headId}`);
  return at.checkpointId;
}

export function createGenerationActivities({ engine, logger, metrics, ownership }: ActivityDeps & { engine: GenerationEngine }) {
  /** Marks checkpoints as the running generation's tenant's (before the workflow or a heartbeat names them). */
  const own = async (...checkpointIds: string[]): Promise<void> => {
    const workflow = Context.current().info.workflowExecution;
    if (ownership && workflow) await ownership.record(workflow.workflowId, checkpointIds);
  };
  return {
    /** The generation's root checkpoint: new, or derived from an earlier checkpoint (branch/refine). */
    async startGeneration(root: GenerationRoot): Promise<CheckpointSummary> {
      try {
        let made: CheckpointSummary;
        if (root.kind === 'new') made = await engine.create(root.request);
        else if (root.kind === 'resume') made = await engine.describe(root.checkpointId);
        else {
          const from = root.atStep === undefined ? root.checkpointId : await startingPoint(engine, root.checkpointId, root.atStep);
          made = await engine.derive(from, {
            ...(root.overrides ? { overrides: root.overrides } : {}),
            ...(root.refine ? { refine: root.refine } : {}),
          });
        }
        await own(made.checkpointId);
        return made;
      } catch (error) {
        throw classify(error);
      }
    },

    /**
     * Runs up to `maxSteps` steps from `checkpointId`, one checkpoint per step, heartbeating
     * `{step, checkpointId}` after each. A retry resumes from the last heartbeat instead of
     * redoing steps; a cancellation stops between steps and returns the newest checkpoint.
     */
    async advance(input: AdvanceInput): Promise<AdvanceResult> {
      const ctx = Context.current();
      const t0 = Date.now();
      metrics?.queueWaitSeconds.observe(Math.max(0, t0 - ctx.info.currentAttemptScheduledTimestampMs) / 1000);
      try {
        const start = await engine.describe(input.checkpointId);
        const target = start.step + input.maxSteps;
        const resumed = parseAdvanceHeartbeat(ctx.info.heartbeatDetails);
        let head = start;
        if (resumed && resumed.step > start.step && resumed.step <= target) {
          try {
            head = await engine.describe(resumed.checkpointId);
            // Every heartbeated checkpoint was marked before its heartbeat; marking the resumed head again is idempotent.
            await own(head.checkpointId);
            logger.info({ from: start.step, resumedAt: head.step, attempt: ctx.info.attempt }, 'advance resumed from heartbeat');
          } catch (error) {
            // Lost with its machine before it was made durable: redo the steps (deterministic).
            if (!(error instanceof BlobNotFoundError)) throw error;
            logger.warn(
              { checkpointId: resumed.checkpointId, attempt: ctx.info.attempt },
              'heartbeat checkpoint missing, redoing from the input',
            );
          }
        }
        while (!head.done && head.step < target) {
          if (ctx.cancellationSignal.aborted) {
            // The generation was canceled: hand back the newest checkpoint, it is the one to keep.
            if (ctx.cancellationDetails?.cancelRequested) {
              await engine.persist(head.checkpointId);
              return { head, stepsRun: head.step - start.step, stoppedBy: 'cancelled', ms: Date.now() - t0 };
            }
            // Worker shutdown, timeout…: fail this attempt between steps; the retry resumes from
            // the heartbeat on another worker, and a step is deterministic in its checkpoint.
            throw new Error(`advance interrupted at step ${head.step} (${describeCancel(ctx.cancellationDetails)})`);
          }
          head = await engine.advance(head.checkpointId);
          await own(head.checkpointId);
          ctx.heartbeat({ step: head.step, checkpointId: head.checkpointId } satisfies AdvanceHeartbeat);
        }
        // The checkpoint the workflow will record must outlive this machine.
        await engine.persist(head.checkpointId);
        return { head, stepsRun: head.step - start.step, stoppedBy: head.done ? 'done' : 'maxSteps', ms: Date.now() - t0 };
      } catch (error) {
        throw classify(error);
      }
    },
  };
}
