import type { Generation, OneflowClient, ProgressEvent, StepSnapshot } from '@oneflow/sdk/browser';
import { useEffect, useState } from 'react';
import { useApi } from './api.js';
import { FINAL, follow, type StreamStatus } from './lib/events.js';
import { piecesOf } from './lib/tokens.js';

/** The generation as it was at one step (from its checkpoint chain). */
export interface Frame {
  step: number;
  steps: number | null;
  state: ProgressEvent['state'];
  tText: number;
  text: string;
  pieces: string[];
  images: { index: number; clock: number }[];
  checkpointId: string | null;
  error: string | null;
}

export function frameOf(e: ProgressEvent): Frame {
  return {
    step: e.step,
    steps: e.steps,
    state: e.state,
    tText: e.tText,
    text: e.text,
    pieces: piecesOf(e),
    images: e.images,
    checkpointId: e.checkpointId,
    error: e.error,
  };
}

/** A frame from a step snapshot (`generations.steps`): no state or expected steps, which events carry. */
export function frameOfSnapshot(s: StepSnapshot): Frame {
  return {
    step: s.step,
    steps: null,
    state: 'running',
    tText: s.tText,
    text: s.text,
    pieces: piecesOf(s),
    images: s.imageClocks.map((clock, index) => ({ index, clock })),
    checkpointId: s.checkpointId,
    error: null,
  };
}

/** Frames ascending by step, one per step; an event's frame replaces a snapshot's (it knows the state). */
export function mergeFrames(frames: readonly Frame[], incoming: readonly Frame[], incomingWins: boolean): Frame[] {
  const byStep = new Map(frames.map((f) => [f.step, f]));
  for (const f of incoming) if (incomingWins || !byStep.has(f.step)) byStep.set(f.step, f);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Every finished step of a generation, page by page (500 a page). */
async function loadSteps(client: OneflowClient, id: string, signal: AbortSignal, onPage: (frames: Frame[]) => void): Promise<void> {
  let fromStep: number | undefined;
  for (let page = 0; page < 200 && !signal.aborted; page++) {
    const res = await client.generations.steps({ id, limit: 500, ...(fromStep !== undefined ? { fromStep } : {}) });
    onPage(res.items.map(frameOfSnapshot));
    if (res.nextStep === null) return;
    fromStep = res.nextStep;
  }
}

/**
 * What one watch event changes: it is always the newest word on the generation's state, and a
 * frame of the timeline only when it names a checkpoint. (A branch's "queued" event, before its
 * root exists, is at step 0 with no checkpoint; its first step is the step it branched from.)
 */
export function withEvent(frames: readonly Frame[], e: ProgressEvent): { frames: Frame[]; last: Frame } {
  const last = frameOf(e);
  return { frames: last.checkpointId === null ? [...frames] : mergeFrames(frames, [last], true), last };
}

export interface GenerationLive {
  /** One frame per step reached, ascending (the newest event of a step wins); only steps with a checkpoint. */
  frames: Frame[];
  /** The newest event (state, expected steps, error), with or without a checkpoint. */
  last: Frame | null;
  status: StreamStatus;
  detail: string | null;
  info: Generation | null;
  /** Event ids delivered (each once): the test and the status line count them. */
  events: number;
}

/** Follows generation `id` over `generations.watch` (every step, resumed after drops) and `get` for what events lack. */
export function useGeneration(id: string, nonce = 0): GenerationLive {
  const { client } = useApi();
  const [live, setLive] = useState<GenerationLive>({ frames: [], last: null, status: 'connecting', detail: null, info: null, events: 0 });
  useEffect(() => {
    const ac = new AbortController();
    setLive({ frames: [], last: null, status: 'connecting', detail: null, info: null, events: 0 });
    const refresh = () =>
      client.generations
        .get(id)
        .then((info) => !ac.signal.aborted && setLive((l) => ({ ...l, info })))
        .catch(() => undefined);
    void refresh();
    // The queue position is only in `get`: poll it while the generation waits for a worker.
    const poll = setInterval(() => {
      setLive((l) => {
        if (l.info?.state === 'queued' || (l.frames.length === 0 && l.status !== 'error')) void refresh();
        return l;
      });
    }, 1000);
    // The recorded steps come in pages from the checkpoints; the live stream adds (and wins over) them.
    void loadSteps(
      client,
      id,
      ac.signal,
      (page) => !ac.signal.aborted && setLive((l) => ({ ...l, frames: mergeFrames(l.frames, page, false) })),
    ).catch(() => undefined);
    let lastState: string | null = null;
    void follow<ProgressEvent>({
      open: ({ lastEventId, signal }) => client.generations.watch(id, { ...(lastEventId ? { lastEventId } : {}), signal }),
      signal: ac.signal,
      onStatus: (status, detail) => setLive((l) => ({ ...l, status, detail: detail ?? null })),
      onEvent: (e) => {
        setLive((l) => ({ ...l, ...withEvent(l.frames, e), events: l.events + 1 }));
        if (e.state !== lastState || FINAL.includes(e.state)) void refresh();
        lastState = e.state;
      },
    });
    return () => {
      ac.abort();
      clearInterval(poll);
    };
  }, [client, id, nonce]);
  return live;
}
