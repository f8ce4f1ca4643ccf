import type { Logger } from 'pino';
import type { GenerationEngine } from '../engine.js';
import type { WorkerMetrics } from '../metrics.js';
import { createGcActivities, type CheckpointCollector } from './gc.js';
import { createGenerationActivities } from './generation.js';
import type { OwnershipRecorder } from './ownership.js';
import { createSmokeActivities } from './smoke.js';
import { createWebhookActivities } from './webhook.js';

/** Heavy, per-process resources the activities share (models, checkpoint store…). */
export interface ActivityDeps {
  logger: Logger;
  /** The model side; a worker without one serves only the smoke activity. */
  engine?: GenerationEngine;
  metrics?: WorkerMetrics;
  /** Webhook signing secrets per tenant (the `deliverWebhook` activity, on the CPU queue). */
  webhookSecrets?: ReadonlyMap<string, string>;
  /** Retention's mark and sweep (the `collectCheckpoints` activity, on the CPU queue). */
  collector?: CheckpointCollector;
  /** Which tenant's generation stored each checkpoint (absent: no markers, raw-id branches of these checkpoints are refused). */
  ownership?: OwnershipRecorder;
}

export type { CheckpointCollector, GcInput } from './gc.js';
export { ownershipRecorder, temporalTenantOf, type OwnershipRecorder, type TenantOf } from './ownership.js';

/** Built once per worker process; tests inject their own implementations of our interfaces here. */
export function createActivities(deps: ActivityDeps): Partial<Activities> {
  const { engine } = deps;
  return {
    ...createSmokeActivities(deps),
    ...(engine ? createGenerationActivities({ ...deps, engine }) : {}),
  };
}
/** Every activity a workflow may call (workflows import this type only). */
export type Activities = ReturnType<typeof createSmokeActivities> &
  ReturnType<typeof createGenerationActivities> &
  ReturnType<typeof createWebhookActivities> &
  ReturnType<typeof createGcActivities>;

/** The light activities of the CPU queue (webhook deliveries). */
export function createCpuActivities(deps: ActivityDeps) {
  return {
    ...createWebhookActivities({ logger: deps.logger, ...(deps.webhookSecrets ? { webhookSecrets: deps.webhookSecrets } : {}) }),
    ...createGcActivities({
      logger: deps.logger,
      ...(deps.collector ? { collector: deps.collector } : {}),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    }),
  };
}
