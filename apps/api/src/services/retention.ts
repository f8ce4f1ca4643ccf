import { TRPCError } from '@trpc/server';
import { newestCheckpointOf, rootCheckpointOf } from '@oneflow/contracts';
import { generationCheckpoints, type Snapshot } from '@oneflow/engine';
import type { PinView } from '../outputs.js';
import { describeOwned, newestCheckpointId } from './ownership.js';
import type { JobScope } from './scope.js';
import type { Execution } from './workflows.js';

// Retention as the API sees it: which of a generation's checkpoints are left, the error for a
// step the collector removed, and pins (a pinned step is never collected).

export function collectedError(generationId: string, step?: number): TRPCError {
  const what = step === undefined ? `the checkpoints of generation ${generationId} were` : `step ${step} of generation ${generationId} was`;
  return new TRPCError({
    code: 'NOT_FOUND',
    message: `${what} collected by retention (kept after the retention window: the final step, branch points, every K-th step and pinned steps)`,
  });
}

/** A generation's checkpoints that are still stored, oldest first (the walk from its newest, then its retention index). */
export async function keptCheckpoints(
  scope: Pick<JobScope, 'jobs'>,
  e: Execution,
): Promise<{ kept: { step: number; checkpointId: string }[]; collected: boolean }> {
  const { checkpoints, retention } = scope.jobs;
  let newest = newestCheckpointId(e);
  // A heartbeat checkpoint lost with its machine: start from the durable head.
  if (newest && newest !== e.memo.headCheckpointId && e.memo.headCheckpointId && !(await checkpoints.snapshot(newest)))
    newest = e.memo.headCheckpointId;
  const index = retention ? await retention.index(e.id) : null;
  const { kept, collected } = await generationCheckpoints(checkpoints, newest, rootCheckpointOf(e.memo), index);
  return { kept, collected: collected || (kept.length === 0 && newestCheckpointOf(e.memo) !== null) };
}

/**
 * The snapshot of a generation's checkpoint at `step`: NOT_FOUND "collected by retention" when the
 * generation had that step but its checkpoint is gone; null when it never had it.
 */
export async function stepSnapshot(scope: Pick<JobScope, 'jobs'>, e: Execution, step: number): Promise<Snapshot | null> {
  const { kept, collected } = await keptCheckpoints(scope, e);
  const at = kept.find((k) => k.step === step);
  const snapshot = at ? await scope.jobs.checkpoints.snapshot(at.checkpointId) : null;
  if (snapshot) return snapshot;
  if (!collected && !at) return null;
  // Before the generation's root (when the root is still there) or past its newest: never had it.
  const root = rootCheckpointOf(e.memo);
  if (kept[0] && kept[0].checkpointId === root && step < kept[0].step) return null;
  if (step > (kept[kept.length - 1]?.step ?? e.memo.step ?? 0)) return null;
  throw collectedError(e.id, step);
  return null;
}

/** Pins a step of a tenant's generation: the collector never removes its checkpoint. */
export async function pinStep(scope: JobScope, input: { id: string; step: number }): Promise<PinView> {
  const retention = scope.jobs.retention;
  if (!retention) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API has no retention records' });
  const e = await describeOwned(scope.workflows, scope.tenant, input.id, 'generation');
  const at = await stepSnapshot(scope, e, input.step);
  if (!at) throw new TRPCError({ code: 'NOT_FOUND', message: `generation ${input.id} has no checkpoint at step ${input.step}` });
  const pin = await retention.pin({ tenant: scope.tenant, generationId: e.id, step: input.step, checkpointId: at.checkpointId });
  // A sweep may have removed it between the read and the pin: then the pin protects nothing.
  if (!(await scope.jobs.checkpoints.snapshot(at.checkpointId))) {
    await retention.unpin(scope.tenant, e.id, input.step);
    throw collectedError(e.id, input.step);
  }
  return { generationId: e.id, step: pin.step, checkpointId: pin.checkpointId, pinnedAt: pin.pinnedAt };
}

export async function unpinStep(
  scope: JobScope,
  input: { id: string; step: number },
): Promise<{ generationId: string; step: number; unpinned: boolean }> {
  const retention = scope.jobs.retention;
  if (!retention) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API has no retention records' });
  const e = await describeOwned(scope.workflows, scope.tenant, input.id, 'generation');
  return { generationId: e.id, step: input.step, unpinned: await retention.unpin(scope.tenant, e.id, input.step) };
}
