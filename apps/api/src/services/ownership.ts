import { TRPCError } from '@trpc/server';
import { newestCheckpointOf } from '@oneflow/contracts';
import type { Execution, Workflows } from './workflows.js';

export function notFound(kind: string, id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${kind} ${id} not found` });
}

/**
 * The execution behind `id` if it is a `type` workflow of `tenant`; NOT_FOUND otherwise (another
 * tenant's job is indistinguishable from a missing one). A batch's child has its tenant from its
 * first workflow task on; until then its parent's tenant counts.
 */
export async function describeOwned(workflows: Workflows, tenant: string, id: string, type: 'generation' | 'batch'): Promise<Execution> {
  const e = await workflows.describe(id);
  if (!e || e.type !== type) throw notFound(type, id);
  let owner = e.tenant;
  if (owner === null && e.parentWorkflowId) owner = (await workflows.describe(e.parentWorkflowId).catch(() => null))?.tenant ?? null;
  if (owner !== tenant) throw notFound(type, id);
  return e;
}

/** The newest checkpoint id of a generation: the step in flight (heartbeat) while it runs, else the memo's newest. */
export function newestCheckpointId(e: Execution): string | null {
  const hb = e.heartbeat;
  if (hb && e.status === 'RUNNING' && hb.step > (e.memo.step ?? -1)) return hb.checkpointId;
  return newestCheckpointOf(e.memo);
}
