import type { Generation, ProgressEvent } from '@oneflow/sdk/browser';
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
    pieces: piecesOf(e as ProgressEvent & { pieces?: string[] }),
    images: e.images,
    checkpointId: e.checkpointId,
    error: e.error,
  };
}

export interface GenerationLive {
  /** One frame per step reached, ascending (the newest event of a step wins). */
  frames: Frame[];
  status: StreamStatus;
  detail: string | null;
  info: Generation | null;
  /** Event ids delivered (each once): the test and the status line count them. */
  events: number;
}

/** Follows generation `id` over `generations.watch` (every step, resumed after drops) and `get` for what events lack. */
export function useGeneration(id: string, nonce = 0): GenerationLive {
  const { client } = useApi();
  const [live, setLive] = useState<GenerationLive>({ frames: [], status: 'connecting', detail: null, info: null, events: 0 });
  useEffect(() => {
    const ac = new AbortController();
    setLive({ frames: [], status: 'connecting', detail: null, info: null, events: 0 });
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
    let lastState: string | null = null;
    void follow<ProgressEvent>({
      open: ({ lastEventId, signal }) => client.generations.watch(id, { ...(lastEventId ? { lastEventId } : {}), signal }),
      signal: ac.signal,
      onStatus: (status, detail) => setLive((l) => ({ ...l, status, detail: detail ?? null })),
      onEvent: (e) => {
        const f = frameOf(e);
        setLive((l) => {
          const frames = l.frames.filter((x) => x.step !== f.step);
          frames.push(f);
          frames.sort((a, b) => a.step - b.step);
          return { ...l, frames, events: l.events + 1 };
        });
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
