import type { Client, WorkflowExecutionDescription, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  generationRootSchema,
  newestCheckpointOf,
  parseAdvanceHeartbeat,
  parentKey,
  parseGenerationMemo,
  rootCheckpointOf,
  tenantKey,
  WORKFLOWS,
} from '@oneflow/contracts';
import type { GenerationRecord, GenerationSource } from './collector.js';

/** Lists a namespace's executions for a visibility query (tests hand in a stale listing). */
export type ExecutionLister = (query: string) => AsyncIterable<WorkflowExecutionInfo>;

/** The generations of a Temporal namespace, from its visibility store (the current run of each id). */
export function temporalGenerations(client: Client, list: ExecutionLister = (query) => client.workflow.list({ query })): GenerationSource {
  async function recordOf(listed: WorkflowExecutionInfo): Promise<GenerationRecord> {
    // Visibility lags: a run it still lists as running may have stored newer checkpoints, or
    // finished, since. Its memo and status come from the run itself, never from the listing.
    const d: WorkflowExecutionDescription | null =
      listed.status.name === 'RUNNING' ? await client.workflow.getHandle(listed.workflowId, listed.runId).describe() : null;
    const e: Pick<WorkflowExecutionInfo, 'memo' | 'status' | 'workflowId' | 'runId' | 'typedSearchAttributes' | 'closeTime'> = d ?? listed;
    const memo = parseGenerationMemo(e.memo);
    const open = e.status.name === 'RUNNING';
    let newestId = newestCheckpointOf(memo);
    const reads: GenerationRecord['reads'] = [];
    if (open && d) {
      // The step in flight: newer than the memo's head, and what a branch of the running generation starts from.
      for (const a of d.raw.pendingActivities ?? []) {
        const p = a.heartbeatDetails?.payloads?.[0];
        const hb = p ? parseAdvanceHeartbeat(defaultPayloadConverter.fromPayload(p)) : null;
        if (hb && hb.step > (memo.step ?? -1)) newestId = hb.checkpointId;
      }
      if (!rootCheckpointOf(memo)) {
        // Not started yet: the checkpoint its first activity will read is only in its input.
        const history = await client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId: e.workflowId, runId: e.runId },
          maximumPageSize: 1,
        });
        const payload = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
        const input: unknown = payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
        const root = generationRootSchema.safeParse((input as { root?: unknown } | undefined)?.root);
        if (root.success && root.data.kind !== 'new')
          reads.push({
            checkpointId: root.data.checkpointId,
            ...(root.data.kind === 'checkpoint' && root.data.atStep !== undefined ? { downToStep: root.data.atStep } : {}),
          });
      }
    }
    const tenant = e.typedSearchAttributes.get(tenantKey) ?? memo.tenant ?? null;
    return {
      id: e.workflowId,
      tenant,
      open,
      closedAt: e.closeTime ?? null,
      newestId,
      headId: newestCheckpointOf(memo),
      rootId: rootCheckpointOf(memo),
      parentId: e.typedSearchAttributes.get(parentKey) ?? memo.parentGenerationId ?? null,
      reads,
    };
  }

  /** The newest run of each workflow id among `query`'s executions (visibility lists every run). */
  async function currentRuns(query: string): Promise<WorkflowExecutionInfo[]> {
    const newest = new Map<string, WorkflowExecutionInfo>();
    for await (const e of list(query)) {
      const seen = newest.get(e.workflowId);
      if (!seen || e.startTime > seen.startTime || (e.status.name === 'RUNNING' && seen.status.name !== 'RUNNING'))
        newest.set(e.workflowId, e);
    }
    return [...newest.values()];
  }

  const byType = `WorkflowType = '${WORKFLOWS.generation}'`;
  return {
    async *all() {
      for (const e of await currentRuns(byType)) yield await recordOf(e);
    },
    async startedSince(t) {
      const runs = await currentRuns(`${byType} AND StartTime >= '${t.toISOString()}'`);
      return Promise.all(runs.map(recordOf));
    },
  };
}
