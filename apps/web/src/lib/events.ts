import type { GenerationState } from '@oneflow/sdk/browser';

/** Final states: a generation in one of them changes only if it is resumed. */
export const FINAL: readonly GenerationState[] = ['succeeded', 'failed', 'canceled', 'expired'];

const RANK: Record<string, number> = { queued: 0, running: 1 };

/** A `watch` event id, `<step>.<state>`, as a sortable pair; null if it is not one. */
export function parseEventId(id: string | null | undefined): { step: number; rank: number } | null {
  const m = /^(\d{1,9})\.([a-z]{1,20})$/.exec(id ?? '');
  if (!m) return null;
  return { step: Number(m[1]), rank: RANK[m[2]!] ?? 2 };
}

/** True when event id `a` comes strictly after `b` in the stream's order (step, then state). */
export function isAfter(a: string, b: string | null): boolean {
  if (b === null) return true;
  const x = parseEventId(a);
  const y = parseEventId(b);
  if (!x || !y) return a !== b;
  return x.step > y.step || (x.step === y.step && x.rank > y.rank);
}

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'error';

export interface FollowOptions<E extends { id: string; state: GenerationState }> {
  /** Opens the stream after `lastEventId` (none: from the start). */
  open: (opts: { lastEventId?: string; signal: AbortSignal }) => AsyncIterable<E>;
  onEvent: (event: E) => void;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  signal: AbortSignal;
  lastEventId?: string | null;
  /** Whether an error is worth reconnecting after (default: anything but refusals such as NOT_FOUND). */
  retryable?: (error: unknown) => boolean;
  /** Milliseconds before reconnect attempt n (0-based); the last one repeats. */
  delays?: readonly number[];
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Follows a generation's progress to its final state across dropped connections: every event is
 * delivered once, in order; after an error (or a stream that ends before a final state) it
 * reconnects with the last event id it delivered, so nothing is lost or repeated. Resolves with
 * the last event id delivered.
 */
export async function follow<E extends { id: string; state: GenerationState }>(o: FollowOptions<E>): Promise<string | null> {
  let last = o.lastEventId ?? null;
  let lastState: GenerationState | null = null;
  let attempt = 0;
  const delays = o.delays ?? [250, 500, 1000, 2000, 4000];
  const sleep = o.sleep ?? defaultSleep;
  while (!o.signal.aborted) {
    o.onStatus?.(attempt === 0 ? 'connecting' : 'reconnecting');
    try {
      const stream = o.open({ ...(last ? { lastEventId: last } : {}), signal: o.signal });
      let first = true;
      for await (const e of stream) {
        if (first) {
          o.onStatus?.('live');
          first = false;
        }
        if (!isAfter(e.id, last)) continue;
        last = e.id;
        lastState = e.state;
        attempt = 0;
        o.onEvent(e);
      }
      if (o.signal.aborted) break;
      if (lastState && FINAL.includes(lastState)) {
        o.onStatus?.('ended');
        return last;
      }
    } catch (error) {
      if (o.signal.aborted) break;
      if (!(o.retryable ?? defaultRetryable)(error)) {
        o.onStatus?.('error', error instanceof Error ? error.message : String(error));
        return last;
      }
      o.onStatus?.('reconnecting', error instanceof Error ? error.message : String(error));
    }
    await sleep(delays[Math.min(attempt, delays.length - 1)]!, o.signal);
    attempt++;
  }
  return last;
}

function defaultRetryable(error: unknown): boolean {
  const code = (error as { data?: { code?: string } } | null)?.data?.code;
  return !['NOT_FOUND', 'UNAUTHORIZED', 'BAD_REQUEST', 'FORBIDDEN'].includes(code ?? '');
}
