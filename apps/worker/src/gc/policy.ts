import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The rules a tenant may set for itself (each defaults to the deployment's). */
const tenantRulesSchema = z
  .object({
    /** Every checkpoint younger than this is kept. */
    keepAllHours: z.number().min(0).max(100_000),
    /** After that, every checkpoint whose step is a multiple of K (0: none besides the other rules). */
    keepEvery: z.number().int().min(0).max(100_000),
    /** A finished generation older than this (from its close) goes entirely, pins excepted; null: never. */
    expireFinishedAfterDays: z.number().gt(0).max(100_000).nullable(),
  })
  .strict();
export type RetentionRules = z.infer<typeof tenantRulesSchema>;

/**
 * The deployment's retention policy (`ONEFLOW_RETENTION` JSON, or the file `ONEFLOW_RETENTION_FILE`).
 * Always kept, whatever the rules: a generation's final (newest) checkpoint, its root, the
 * checkpoint it was branched from, pinned steps, and everything of a running generation's chain.
 */
export const retentionPolicySchema = z
  .object({
    keepAllHours: tenantRulesSchema.shape.keepAllHours.default(24),
    keepEvery: tenantRulesSchema.shape.keepEvery.default(10),
    expireFinishedAfterDays: tenantRulesSchema.shape.expireFinishedAfterDays.default(null),
    /**
     * No blob younger than this is ever deleted, reachable or not: the time a writer has between
     * storing a checkpoint and the workflow (or a heartbeat) naming it. Above the longest gap
     * between two heartbeats of a step loop; deployment-wide.
     */
    graceMinutes: z.number().min(1).max(100_000).default(60),
    /** Per-tenant overrides of the three rules. */
    tenants: z.record(z.string().min(1), tenantRulesSchema.partial()).default({}),
  })
  .strict();
export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

export class RetentionConfigError extends Error {
  override readonly name = 'RetentionConfigError';
}

/** The policy from `ONEFLOW_RETENTION` (inline JSON) or `ONEFLOW_RETENTION_FILE`; the defaults when neither is set. */
export function retentionPolicyFromEnv(env: {
  ONEFLOW_RETENTION?: string | undefined;
  ONEFLOW_RETENTION_FILE?: string | undefined;
}): RetentionPolicy {
  if (env.ONEFLOW_RETENTION && env.ONEFLOW_RETENTION_FILE)
    throw new RetentionConfigError('set ONEFLOW_RETENTION or ONEFLOW_RETENTION_FILE, not both');
  let text = env.ONEFLOW_RETENTION ?? '{}';
  let source = 'ONEFLOW_RETENTION';
  if (env.ONEFLOW_RETENTION_FILE) {
    source = env.ONEFLOW_RETENTION_FILE;
    try {
      text = readFileSync(env.ONEFLOW_RETENTION_FILE, 'utf8');
    } catch (error) {
      throw new RetentionConfigError(`ONEFLOW_RETENTION_FILE: cannot read ${source}: ${(error as Error).message}`);
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RetentionConfigError(`${source} is not JSON`);
  }
  const parsed = retentionPolicySchema.safeParse(raw);
  if (!parsed.success) throw new RetentionConfigError(`${source}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A tenant's rules: its overrides over the deployment's. */
export function rulesFor(policy: RetentionPolicy, tenant: string | null): RetentionRules {
  const own = (tenant !== null ? policy.tenants[tenant] : undefined) ?? {};
  return {
    keepAllHours: own.keepAllHours ?? policy.keepAllHours,
    keepEvery: own.keepEvery ?? policy.keepEvery,
    expireFinishedAfterDays: own.expireFinishedAfterDays !== undefined ? own.expireFinishedAfterDays : policy.expireFinishedAfterDays,
  };
}
