/**
 * Names shared by the API, the worker and the dev stack. One constant per task queue and per
 * workflow, so a typo is a compile error instead of a job that waits forever on an empty queue.
 */

/** Model steps (onnxruntime sessions) run here; scale-out workers poll this queue. */
export const GPU_TASK_QUEUE = 'oneflow-gpu';
/** Orchestration and light activities (webhooks, bookkeeping). */
export const CPU_TASK_QUEUE = 'oneflow-cpu';

export const TASK_QUEUES = [GPU_TASK_QUEUE, CPU_TASK_QUEUE] as const;
export type TaskQueue = (typeof TASK_QUEUES)[number];

export const WORKFLOWS = {
  /** Trivial end-to-end check of the stack: one workflow, one activity. */
  smoke: 'smoke',
  generation: 'generation',
  batch: 'batch',
  /** One signed webhook delivery, retried with backoff; started by a generation as it ends. */
  webhook: 'webhook',
  /** Waits for a generation's deadline and delivers `generation.expired` if it ended there. */
  expiryWatch: 'expiryWatch',
  /** Retention: one mark-and-sweep of the checkpoint store (the schedule below, or an admin's run). */
  checkpointGc: 'checkpointGc',
} as const;

/** The Temporal schedule that runs {@link WORKFLOWS.checkpointGc} (created by the workflow worker at start). */
export const CHECKPOINT_GC_SCHEDULE_ID = 'oneflow-checkpoint-gc';
export type WorkflowName = (typeof WORKFLOWS)[keyof typeof WORKFLOWS];

export const DEFAULT_NAMESPACE = 'default';

/**
 * Custom search attributes the project registers on its Temporal namespace, so generations can be
 * listed and filtered (by state, model, tenant, batch, lineage). The dev stack registers them at
 * start; a production cluster registers them once with `temporal operator search-attribute create`.
 */
export const SEARCH_ATTRIBUTES = {
  OneflowState: 'Keyword',
  OneflowModel: 'Keyword',
  OneflowTenant: 'Keyword',
  OneflowBatchId: 'Keyword',
  OneflowParentId: 'Keyword',
  OneflowStep: 'Int',
} as const satisfies Record<string, 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'Text'>;
export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
