import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { CHECKPOINT_GC_SCHEDULE_ID, CPU_TASK_QUEUE, WORKFLOWS } from '@oneflow/contracts';
import { CheckpointStore, type Link } from '@oneflow/engine';
import type { BlobStore } from '@oneflow/store';
import type { Logger } from 'pino';
import type { CheckpointCollector } from '../activities/index.js';
import { collectCheckpoints, type GenerationSource } from './collector.js';
import type { RetentionPolicy } from './policy.js';
import { temporalGenerations } from './temporal-generations.js';

/** Parent links of the sampler's checkpoints in `store` (decoded; no model needed). */
export function checkpointLinks(store: BlobStore): { snapshot(id: string): Promise<Link | null> } {
  const checkpoints = new CheckpointStore(store, 64);
  return {
    async snapshot(id) {
      const c = await checkpoints.find(id);
      return c && { checkpointId: id, parentId: c.parent, step: c.state.step };
    },
  };
}

/** The collector of a worker: its store, the namespace's generations, the deployment's policy. */
export function createCollector(o: {
  store: BlobStore;
  client?: Client;
  generations?: GenerationSource;
  links?: { snapshot(id: string): Promise<Link | null> };
  policy: RetentionPolicy;
  logger: Logger;
  allowNoGenerations?: boolean;
  now?: () => Date;
}): CheckpointCollector {
  const generations = o.generations ?? (o.client ? temporalGenerations(o.client) : undefined);
  if (!generations) throw new Error('createCollector needs a Temporal client or a generation source');
  const links = o.links ?? checkpointLinks(o.store);
  return {
    run: ({ dryRun, onProgress }) =>
      collectCheckpoints({
        store: o.store,
        links,
        generations,
        policy: o.policy,
        dryRun,
        logger: o.logger,
        ...(o.allowNoGenerations ? { allowNoGenerations: true } : {}),
        ...(o.now ? { now: o.now } : {}),
        ...(onProgress ? { onProgress } : {}),
      }),
  };
}

/**
 * Creates the retention schedule (`checkpointGc` on the CPU queue, overlapping runs skipped), or
 * brings an existing one to `cron`; `off` deletes it. Idempotent: every workflow worker calls it
 * at start, and two starting at once end with one schedule.
 */
export async function ensureGcSchedule(
  client: Client,
  cron: string,
  logger?: Logger,
): Promise<'created' | 'unchanged' | 'replaced' | 'deleted' | 'absent'> {
  const handle = client.schedule.getHandle(CHECKPOINT_GC_SCHEDULE_ID);
  const current = await handle.describe().catch(() => null);
  if (cron === 'off') {
    if (!current) return 'absent';
    await handle.delete();
    logger?.info({ scheduleId: CHECKPOINT_GC_SCHEDULE_ID }, 'checkpoint collection schedule deleted');
    return 'deleted';
  }
  if (current && current.memo?.cron === cron) return 'unchanged';
  if (current) await handle.delete().catch(() => undefined);
  try {
    await client.schedule.create({
      scheduleId: CHECKPOINT_GC_SCHEDULE_ID,
      spec: { cronExpressions: [cron] },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOWS.checkpointGc,
        taskQueue: CPU_TASK_QUEUE,
        args: [{}],
        workflowId: 'oneflow-checkpoint-gc',
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { cron },
    });
  } catch (error) {
    if (error instanceof ScheduleAlreadyRunning) return 'unchanged'; // another worker created it just now
    throw error;
  }
  logger?.info(
    { scheduleId: CHECKPOINT_GC_SCHEDULE_ID, cron },
    current ? 'checkpoint collection schedule replaced' : 'checkpoint collection schedule created',
  );
  return current ? 'replaced' : 'created';
}
