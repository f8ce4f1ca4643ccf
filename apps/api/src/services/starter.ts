import { createHash, randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import {
  WEBHOOK_EVENTS,
  type GenerationMemo,
  type GenerationRoot,
  type GenerationWorkflowInput,
  type WebhookRequest,
  type WebhookTarget,
} from '@oneflow/contracts';
import { refusedWebhookUrl, webhookTargetPolicyFromEnv } from '@oneflow/contracts/webhook-target';
import { InvalidInputError } from '@oneflow/engine';
import type { JobDeps } from '../context.js';
import type { Workflows } from './workflows.js';

// Starting jobs: ids, request hashes for idempotency, the workflow's input, webhooks.

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** JSON with sorted keys: the same request always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A job id: random, or derived from (tenant, idempotency key) so a retried create finds the first job. */
export function jobId(prefix: 'gen' | 'batch', tenant: string, idempotencyKey: string | undefined): string {
  return idempotencyKey
    ? `${prefix}-${sha256(`${tenant}\u0000${prefix}\u0000${idempotencyKey}`).slice(0, 32)}`
    : `${prefix}-${randomUUID()}`;
}

/** Runs `fn`, turning input the engine would refuse into BAD_REQUEST. */
export async function asBadRequest<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof InvalidInputError) throw new TRPCError({ code: 'BAD_REQUEST', message: error.message });
    throw error;
  }
}

export interface StartOptions {
  workflow: 'generation' | 'batch';
  workflowId: string;
  args: unknown;
  tenant: string;
  /** Idempotent start: a second start with the same id returns the first job (if it asked the same). */
  idempotent: boolean;
  requestHash: string;
  model?: string;
  parentId?: string;
  batchId?: string;
  deadlineSeconds?: number;
  memo?: Omit<GenerationMemo, 'tenant' | 'requestHash'>;
  /** Resume: a new run of a closed workflow id. */
  reuse?: boolean;
}

/**
 * Starts a job's workflow with its tenant (and model, parent, batch) as search attributes from the
 * start, so visibility and ownership checks never see it untagged.
 */
export async function startJob(workflows: Workflows, o: StartOptions): Promise<void> {
  const { alreadyStarted } = await workflows.start({
    workflow: o.workflow,
    workflowId: o.workflowId,
    args: o.args,
    attributes: {
      tenant: o.tenant,
      // Step 0 from the start: a queued generation counts in others' queue positions before its first task.
      ...(o.workflow === 'generation' && !o.reuse ? { step: 0 } : {}),
      ...(o.model ? { model: o.model } : {}),
      ...(o.parentId ? { parentId: o.parentId } : {}),
      ...(o.batchId ? { batchId: o.batchId } : {}),
    },
    memo: { tenant: o.tenant, requestHash: o.requestHash, ...o.memo },
    // Never a second run of an id (except resume); a concurrent duplicate gets the running one.
    useExisting: o.idempotent,
    reuse: o.reuse ?? false,
    ...(o.deadlineSeconds ? { executionTimeoutMs: o.deadlineSeconds * 1000 } : {}),
  });
  if (alreadyStarted && !o.idempotent) throw new TRPCError({ code: 'CONFLICT', message: `${o.workflowId} is already running` });
  if (o.idempotent) {
    const memo = (await workflows.describe(o.workflowId))?.memo;
    if (memo?.requestHash !== undefined && memo.requestHash !== o.requestHash) {
      throw new TRPCError({ code: 'CONFLICT', message: 'this idempotency key was used for a different request' });
    }
  }
}

export function generationArgs(
  generationId: string,
  root: GenerationRoot,
  tenant: string,
  pacing: Pick<JobDeps, 'stepsPerActivity' | 'minActivityMs'>,
  o: { batchId?: string | undefined; webhook?: WebhookTarget | undefined; deadlineSeconds?: number | undefined } = {},
): GenerationWorkflowInput {
  return {
    generationId,
    root,
    stepsPerActivity: pacing.stepsPerActivity,
    ...(pacing.minActivityMs !== undefined ? { minActivityMs: pacing.minActivityMs } : {}),
    tenant,
    ...(o.batchId ? { batchId: o.batchId } : {}),
    ...(o.webhook ? { webhook: o.webhook } : {}),
    // The execution timeout starts about now: the expiry watch waits a few seconds past it.
    ...(o.webhook && o.deadlineSeconds ? { deadlineAt: new Date(Date.now() + o.deadlineSeconds * 1000).toISOString() } : {}),
  };
}

/**
 * The webhook a job will deliver to (every event unless it names some), or BAD_REQUEST when the
 * tenant has no signing secret (the worker could never sign its messages) or the URL names a
 * non-public address or `localhost` that `ONEFLOW_WEBHOOK_ALLOW` does not allow.
 */
export function webhookTarget(
  webhook: WebhookRequest | undefined,
  tenant: string,
  tenantsWithSecret: ReadonlySet<string>,
): WebhookTarget | undefined {
  if (!webhook) return undefined;
  if (!tenantsWithSecret.has(tenant)) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `no webhook signing secret is configured for tenant ${tenant} (ONEFLOW_WEBHOOK_SECRETS or the key file's webhookSecret)`,
    });
  }
  const refused = refusedWebhookUrl(webhook.url, webhookTargetPolicyFromEnv());
  if (refused) throw new TRPCError({ code: 'BAD_REQUEST', message: refused });
  return { url: webhook.url, events: webhook.events ? [...new Set(webhook.events)] : [...WEBHOOK_EVENTS] };
}
