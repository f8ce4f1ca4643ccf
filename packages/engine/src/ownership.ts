import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkpointIdSchema } from '@oneflow/contracts';
import type { RecordStore } from '@oneflow/store';

/**
 * Which tenants' generations produced each checkpoint: one marker record per (tenant, checkpoint),
 * `owners/<tenant digest>/<checkpoint id>`, beside the blobs. The worker writes a marker for every
 * checkpoint a generation stores (its root and each step) before it names the checkpoint to
 * Temporal; the API lets a tenant branch from a raw checkpoint id only when the tenant's marker is
 * there. Checkpoint ids (and so the recorded workflow histories) do not change: ownership lives
 * outside the content. Two tenants that make the same content both own it (ids are content
 * hashes, and each of them could make it again).
 */

export const ownerMarkerSchema = z.object({
  v: z.literal(1),
  tenant: z.string().min(1),
  checkpointId: checkpointIdSchema,
});
export type OwnerMarker = z.infer<typeof ownerMarkerSchema>;

const PREFIX = 'owners/';
/** Record keys are `[a-z0-9._-]`; tenant names are not, so the key names a tenant by a digest. */
const tenantSegment = (tenant: string) => createHash('sha256').update(`tenant\u0000${tenant}`).digest('hex').slice(0, 40);
export const ownerKey = (tenant: string, checkpointId: string) => `${PREFIX}${tenantSegment(tenant)}/${checkpointId}`;

/** Ownership markers in a store's records. */
export class CheckpointOwners {
  constructor(readonly records: RecordStore) {}

  /** Records `tenant` as an owner of each checkpoint (idempotent). */
  async record(tenant: string, checkpointIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(checkpointIds)];
    for (const id of ids) checkpointIdSchema.parse(id);
    const json = (id: string) => new TextEncoder().encode(JSON.stringify({ v: 1, tenant, checkpointId: id } satisfies OwnerMarker));
    await Promise.all(ids.map((id) => this.records.put(ownerKey(tenant, id), json(id))));
  }

  /** True when one of `tenant`'s generations stored `checkpointId`; false for anything else, malformed ids included. */
  async owns(tenant: string, checkpointId: string): Promise<boolean> {
    if (!checkpointIdSchema.safeParse(checkpointId).success || tenant.length === 0) return false;
    const bytes = await this.records.get(ownerKey(tenant, checkpointId));
    if (!bytes) return false;
    const marker = ownerMarkerSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    // A digest collision or a foreign record under the key is not ownership.
    return marker.success && marker.data.tenant === tenant && marker.data.checkpointId === checkpointId;
  }

  /** Removes `tenant`'s marker of a checkpoint (the collector, once the blob is gone); true when it was there. */
  forget(tenant: string, checkpointId: string): Promise<boolean> {
    return this.records.delete(ownerKey(tenant, checkpointId));
  }

  /** Every marker of one tenant: the checkpoint ids (any order). */
  async *ownedBy(tenant: string): AsyncIterable<string> {
    const prefix = `${PREFIX}${tenantSegment(tenant)}/`;
    for await (const key of this.records.list(prefix)) yield key.slice(prefix.length);
  }
}
