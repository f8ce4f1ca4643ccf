import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';

/** What the API needs from Temporal; an interface so procedure tests can pass their own. */
export interface TemporalGateway {
  readonly address: string;
  readonly namespace: string;
  /** True when the front end answers within a short timeout. */
  ping(): Promise<boolean>;
}

/** The transport-free part of the context: `appRouter.createCaller(inner)` in tests. */
export interface InnerContext {
  temporal: TemporalGateway;
  version: string;
  startedAt: number;
}

export interface Context extends InnerContext {
  req: CreateHTTPContextOptions['req'];
}

export function createContextFactory(inner: InnerContext) {
  return ({ req }: CreateHTTPContextOptions): Context => ({ ...inner, req });
}
