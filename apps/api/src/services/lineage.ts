import type { Execution } from './workflows.js';
import type { GenerationSummary, LineageNode } from '../outputs.js';
import { generationView, summaryOf } from './generations.js';
import { describeOwned } from './ownership.js';
import type { JobScope } from './scope.js';
import { rootCheckpointOf } from '@oneflow/contracts';

/** Most ancestors followed up, and most generations in one tree. */
const MAX_DEPTH = 64;
const MAX_NODES = 500;

/**
 * The tree of branches a generation belongs to, flat: 1. up the parent links to the topmost
 * ancestor of the tenant; 2. breadth-first down its children (visibility, by parent id); 3. each
 * node's branch point, the parent of its root checkpoint.
 */
export async function lineage(scope: JobScope, id: string): Promise<{ rootId: string; nodes: LineageNode[] }> {
  const { workflows, tenant } = scope;
  // 1. the topmost ancestor
  let top: Execution = await describeOwned(workflows, tenant, id, 'generation');
  for (let depth = 0; depth < MAX_DEPTH && top.parentId; depth++) {
    const up = await describeOwned(workflows, tenant, top.parentId, 'generation').catch(() => null);
    if (!up) break;
    top = up;
  }
  const rootView = await generationView(scope, top);
  const summaries: GenerationSummary[] = [
    {
      id: rootView.id,
      state: rootView.state,
      model: rootView.model,
      batchId: rootView.batchId,
      parentId: rootView.parentId,
      step: rootView.step,
      checkpointId: rootView.checkpointId,
      createdAt: rootView.createdAt,
      finishedAt: rootView.finishedAt,
    },
  ];
  // 2. its descendants, breadth first
  const roots = new Map<string, string | null>([[rootView.id, rootView.rootCheckpointId]]);
  const queue = [rootView.id];
  while (queue.length > 0 && summaries.length < MAX_NODES) {
    const parentId = queue.shift()!;
    let cursor: string | undefined;
    do {
      const page = await workflows.list({ type: 'generation', tenant, parentId }, 100, cursor);
      for (const r of page.rows) {
        if (r.tenant !== tenant || roots.has(r.id)) continue;
        summaries.push(summaryOf(r));
        roots.set(r.id, rootCheckpointOf(r.memo));
        queue.push(r.id);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && summaries.length < MAX_NODES);
  }
  // 3. branch points
  const nodes = await Promise.all(
    summaries.map(async (s): Promise<LineageNode> => {
      const rootCheckpointId = roots.get(s.id) ?? null;
      const root = rootCheckpointId ? await scope.jobs.checkpoints.snapshot(rootCheckpointId) : null;
      return { ...s, rootCheckpointId, branchedFrom: root?.parentId ? { checkpointId: root.parentId, step: root.step } : null };
    }),
  );
  return { rootId: rootView.id, nodes };
}
