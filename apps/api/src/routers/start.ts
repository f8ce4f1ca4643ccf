import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import {
  CPU_TASK_QUEUE,
  WEBHOOK_EVENTS,
  WORKFLOWS,
  type WebhookRequest,
  type WebhookTarget,
  type GenerationRoot,
  type GenerationWorkflowInput,
  batchKey,
  modelKey,
  parentKey,
  stepKey,
  tenantKey,
} from '@oneflow/contracts';
import { InvalidInputError } from '../checkpoints.js';
import { sha256, type GenerationMemo } from '../jobs.js';

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
  memo?: GenerationMemo & Record<string, unknown>;
  /** Resume: a new run of a closed workflow id. */
  reuse?: boolean;
}

/**
 * Starts a job's workflow with its tenant (and model, parent, batch) as search attributes from the
 * start, so visibility and ownership checks never see it untagged.
 */
export async function startJob(client: Client, o: StartOptions): Promise<void> {
  const attrs: SearchAttributePair[] = [{ key: tenantKey, value: o.tenant }];
  // Step 0 from the start: a queued generation counts in others' queue positions before its first task.
  if (o.workflow === 'generation' && !o.reuse) attrs.push({ key: stepKey, value: 0 });
  if (o.model) attrs.push({ key: modelKey, value: o.model });
  if (o.parentId) attrs.push({ key: parentKey, value: o.parentId });
  if (o.batchId) attrs.push({ key: batchKey, value: o.batchId });
  try {
    await client.workflow.start(o.workflow === 'generation' ? WORKFLOWS.generation : WORKFLOWS.batch, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId: o.workflowId,
      args: [o.args],
      // Never a second run of an id (except resume); a concurrent duplicate gets the running one.
      workflowIdReusePolicy: o.reuse ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: o.idempotent ? 'USE_EXISTING' : 'FAIL',
      typedSearchAttributes: attrs,
      memo: { tenant: o.tenant, requestHash: o.requestHash, ...o.memo },
      ...(o.deadlineSeconds ? { workflowExecutionTimeout: o.deadlineSeconds * 1000 } : {}),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      if (!o.idempotent) throw new TRPCError({ code: 'CONFLICT', message: `${o.workflowId} is already running` });
    } else throw error;
  }
  if (o.idempotent) {
    const d = await client.workflow.getHandle(o.workflowId).describe();
    const memo = (d.memo ?? {}) as GenerationMemo;
    if (memo.requestHash !== undefined && memo.requestHash !== o.requestHash) {
      throw new TRPCError({ code: 'CONFLICT', message: 'this idempotency key was used for a different request' });
    }
  }
}

export function generationArgs(
  generationId: string,
  root: GenerationRoot,
  tenant: string,
  stepsPerActivity: number,
  o: { batchId?: string | undefined; webhook?: WebhookTarget | undefined; deadlineSeconds?: number | undefined } = {},
): GenerationWorkflowInput {
  return {
    generationId,
    root,
    stepsPerActivity,
    tenant,
    ...(o.batchId ? { batchId: o.batchId } : {}),
    ...(o.webhook ? { webhook: o.webhook } : {}),
    // The execution timeout starts about now: the expiry watch waits a few seconds past it.
    ...(o.webhook && o.deadlineSeconds ? { deadlineAt: new Date(Date.now() + o.deadlineSeconds * 1000).toISOString() } : {}),
  };
}

/**
 * The webhook a job will deliver to (every event unless it names some), or BAD_REQUEST when the
 * tenant has no signing secret: the worker could never sign its messages.
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
  return { url: webhook.url, events: webhook.events ? [...new Set(webhook.events)] : [...WEBHOOK_EVENTS] };
}
