import type { Client } from '@temporalio/client';
import { parseGenerationMemo, tenantKey } from '@oneflow/contracts';
import type { CheckpointOwners } from '@oneflow/engine';

/**
 * Records which tenant's generation stored a checkpoint (the API's check for a branch from a raw
 * checkpoint id). Activity inputs carry no tenant, and adding one would change what the
 * generation workflow emits, so the tenant is looked up once per generation and worker: the
 * workflow's `OneflowTenant` search attribute (set by its first workflow task, before any of its
 * activities is scheduled), its memo, or for a batch item its parent batch's.
 */
export interface OwnershipRecorder {
  /** Marks the checkpoints as stored by generation `workflowId`'s tenant; resolves once the markers are durable. */
  record(workflowId: string, checkpointIds: readonly string[]): Promise<void>;
}

/** A workflow's tenant, or null for one without (a workflow started by hand, with no tenant). */
export type TenantOf = (workflowId: string) => Promise<string | null>;

/** The tenant of a workflow from Temporal: search attribute, then memo, then the parent's. */
export function temporalTenantOf(client: Client): TenantOf {
  const tenantOf = async (workflowId: string, depth: number): Promise<string | null> => {
    const d = await client.workflow.getHandle(workflowId).describe();
    const tenant = d.typedSearchAttributes.get(tenantKey) ?? parseGenerationMemo(d.memo).tenant ?? null;
    const parent = d.parentExecution?.workflowId;
    if (tenant !== null || !parent || depth > 0) return tenant;
    return tenantOf(parent, depth + 1);
  };
  return (workflowId) => tenantOf(workflowId, 0);
}

/**
 * The recorder over the markers of `owners`. Tenants are cached per workflow id (a generation's
 * tenant never changes, a resumed one keeps its id and tenant); a lookup that fails throws, and
 * the activity is retried. A generation without a tenant gets no markers.
 */
export function ownershipRecorder(owners: Pick<CheckpointOwners, 'record'>, tenantOf: TenantOf, cacheSize = 10_000): OwnershipRecorder {
  const tenants = new Map<string, string | null>();
  return {
    async record(workflowId, checkpointIds) {
      let tenant = tenants.get(workflowId);
      if (tenant === undefined) {
        tenant = await tenantOf(workflowId);
        if (tenants.size >= cacheSize) tenants.delete(tenants.keys().next().value!);
        // No tenant yet is not remembered: asked again next time.
        if (tenant !== null) tenants.set(workflowId, tenant);
      }
      if (tenant !== null) await owners.record(tenant, checkpointIds);
    },
  };
}
