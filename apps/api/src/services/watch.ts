import { setTimeout as sleep } from 'node:timers/promises';
import type { GenerationState } from '@oneflow/contracts';
import type { Snapshot } from '@oneflow/engine';
import type { WatchEvent } from '../outputs.js';
import { generationParts, rootStepOf, TERMINAL_STATES } from './generations.js';
import { describeOwned } from './ownership.js';
import type { JobScope } from './scope.js';

export function eventOf(s: Snapshot | null, state: GenerationState, error: string | null): WatchEvent {
  return {
    state,
    step: s?.step ?? 0,
    steps: s?.steps ?? null,
    tText: s?.tText ?? 0,
    text: s?.text ?? '',
    pieces: s?.pieces ?? [],
    images: (s?.imageClocks ?? []).map((clock, index) => ({ index, clock })),
    checkpointId: s?.checkpointId ?? null,
    error,
  };
}

/** Order of states at one step: queued, running, then a final state. */
function rankOf(state: string): number {
  return state === 'queued' ? 0 : state === 'running' ? 1 : 2;
}

/** Event ids are `<step>.<state>`: the stream is ordered by step, then by state change. */
export function parseEventId(id: string | null | undefined): { step: number; state: string } | null {
  const m = /^(\d{1,9})\.([a-z]{1,20})$/.exec(id ?? '');
  return m ? { step: Number(m[1]), state: m[2]! } : null;
}

/**
 * A generation's progress: every step in order, then state changes, until a final state; each
 * event with its id `<step>.<state>`. Starts right after `lastEventId`; polls every `intervalMs`
 * until `signal` aborts.
 */
export async function* watchGeneration(
  scope: JobScope,
  input: { id: string; lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<{ id: string; event: WatchEvent }> {
  const { checkpoints } = scope.jobs;
  let e = await describeOwned(scope.workflows, scope.tenant, input.id, 'generation');
  let cursor = parseEventId(input.lastEventId);
  for (;;) {
    const parts = await generationParts(scope, e);
    const s = parts.snapshot;
    const events: WatchEvent[] = [];
    if (s) {
      const rootStep = await rootStepOf(scope.jobs, e.memo);
      const floor = Math.max(cursor?.step ?? rootStep, rootStep);
      const chain = (await checkpoints.chain(s.checkpointId, floor)).filter((c) => c.step >= (cursor?.step ?? rootStep));
      // 1. every step once, as `running` (the newest with the current state); step 2 drops what
      // the client already has
      chain.forEach((c, i) =>
        events.push(eventOf(c, i === chain.length - 1 ? parts.state : 'running', i === chain.length - 1 ? parts.error : null)),
      );
      if (chain.length === 0) events.push(eventOf(s, parts.state, parts.error));
    } else {
      // no checkpoint yet: a running generation is still starting, reported as queued, so that
      // step 0 (`0.running`) is sent once its root checkpoint exists
      const state = parts.state === 'running' ? 'queued' : parts.state;
      if (!cursor || cursor.state !== state) events.push(eventOf(null, state, parts.error));
    }
    // 2. strictly forward in (step, state rank): a continue-as-new briefly shows a run with no
    // checkpoint yet, and an id is never sent twice
    for (const event of events) {
      if (cursor && (event.step < cursor.step || (event.step === cursor.step && rankOf(event.state) <= rankOf(cursor.state)))) continue;
      cursor = { step: event.step, state: event.state };
      yield { id: `${event.step}.${event.state}`, event };
    }
    if (TERMINAL_STATES.includes(parts.state) && cursor?.state === parts.state) return;
    try {
      await sleep(scope.jobs.watchIntervalMs, undefined, { signal });
    } catch {
      return; // the client went away
    }
    e = (await scope.workflows.describe(input.id)) ?? e;
  }
}
