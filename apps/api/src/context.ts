import type { IncomingMessage } from 'node:http';
import type { Client } from '@temporalio/client';
import type { CheckpointOwners, CheckpointReader, RetentionRecords } from '@oneflow/engine';
import type { KeyRing, Principal, RateLimiter } from './auth.js';
import type { ModelCatalog } from './models.js';
import type { Workflows } from './services/workflows.js';

/** What the API needs from Temporal; an interface so procedure tests can pass their own. */
export interface TemporalGateway {
  readonly address: string;
  readonly namespace: string;
  /** True when the front end answers within a short timeout. */
  ping(): Promise<boolean>;
  /** A client of the namespace (connects on first use). */
  client(): Promise<Client>;
}

/** The engine's read side as the job services use it (summaries, chains, images, dry runs). */
export type CheckpointReading = Pick<CheckpointReader, 'snapshot' | 'chain' | 'ancestorAt' | 'png' | 'validateRequest' | 'validateDerive'>;

/** Everything the job procedures use besides Temporal. */
export interface JobDeps {
  /** Reads the worker's checkpoint store. */
  checkpoints: CheckpointReading;
  models: ModelCatalog;
  stepsPerActivity: number;
  /** Adaptive steps per activity: each activity after the first aims for this much model time (absent: always `stepsPerActivity`). */
  minActivityMs?: number;
  /** How often `watch` looks at a generation. */
  watchIntervalMs: number;
  limiter: RateLimiter;
  /** Retention indexes and pins beside the checkpoints (absent: no pins, and collected steps are just missing). */
  retention?: Pick<RetentionRecords, 'index' | 'pin' | 'unpin'>;
  /** Which tenants' generations stored each checkpoint (a branch from a raw checkpoint id needs the caller's marker). */
  owners: Pick<CheckpointOwners, 'owns'>;
  /** Tenants with a webhook signing secret (the worker signs; a webhook of another tenant is refused). */
  webhookTenants: ReadonlySet<string>;
}

/** The transport-free part of the context: `appRouter.createCaller(inner)` in tests. */
export interface InnerContext {
  temporal: TemporalGateway;
  /** The job services' Temporal; default: the workflows of `temporal`'s namespace. */
  workflows?: Workflows;
  version: string;
  startedAt: number;
  /** Absent in a health-only server. */
  jobs?: JobDeps;
  /** Null when the request carries no valid key (authed procedures answer UNAUTHORIZED). */
  principal?: (Principal & { ratePerMinute?: number }) | null;
}

export type Context = InnerContext;

/** The HTTP part: the principal comes from the `Authorization: Bearer <key>` header. */
export function createContextFactory(inner: InnerContext, keys: KeyRing) {
  return ({ req }: { req: IncomingMessage }): Context => ({ ...inner, principal: keys.authenticate(req.headers.authorization) });
}
