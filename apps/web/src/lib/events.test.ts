import { describe, expect, it } from 'vitest';
import { follow, isAfter, parseEventId, type StreamStatus } from './events.js';

type E = { id: string; state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'expired'; step: number };
const ev = (step: number, state: E['state'] = 'running'): E => ({ id: `${step}.${state}`, state, step });

describe('event ids', () => {
  it('order by step, then queued < running < final', () => {
    expect(parseEventId('12.running')).toEqual({ step: 12, rank: 1 });
    expect(parseEventId('nope')).toBeNull();
    expect(isAfter('3.running', '2.succeeded')).toBe(true);
    expect(isAfter('3.succeeded', '3.running')).toBe(true);
    expect(isAfter('3.running', '3.running')).toBe(false);
    expect(isAfter('0.queued', null)).toBe(true);
  });
});

describe('follow (resume after a dropped connection)', () => {
  it('reconnects with the last delivered id and delivers every event once, in order', async () => {
    const opened: (string | undefined)[] = [];
    // The server's stream: steps 0..9, then succeeded; the connection drops after 4 events, and the
    // second connection repeats an event the client already has (as a server may around a cut).
    const all = [...Array.from({ length: 10 }, (_, i) => ev(i)), ev(9, 'succeeded')];
    const open = ({ lastEventId }: { lastEventId?: string }) => {
      opened.push(lastEventId);
      const from = lastEventId ? all.findIndex((e) => e.id === lastEventId) : -1;
      const attempt = opened.length;
      return (async function* () {
        const start = attempt === 1 ? 0 : from; // repeats `lastEventId` itself
        for (let i = Math.max(start, 0), n = 0; i < all.length; i++, n++) {
          if (attempt === 1 && n === 4) throw new Error('socket hang up');
          yield all[i]!;
        }
      })();
    };
    const got: string[] = [];
    const statuses: StreamStatus[] = [];
    const last = await follow<E>({
      open,
      onEvent: (e) => got.push(e.id),
      onStatus: (s) => statuses.push(s),
      signal: new AbortController().signal,
      sleep: async () => undefined,
    });
    expect(got).toEqual(all.map((e) => e.id));
    expect(opened).toEqual([undefined, '3.running']);
    expect(last).toBe('9.succeeded');
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'reconnecting', 'live', 'ended']);
  });

  it('reconnects when a stream ends before a final state, and stops on a refusal', async () => {
    let n = 0;
    const got: string[] = [];
    await follow<E>({
      open: ({ lastEventId }) =>
        (async function* () {
          n++;
          if (!lastEventId) yield ev(0);
          else yield ev(1, 'canceled');
        })(),
      onEvent: (e) => got.push(e.id),
      signal: new AbortController().signal,
      sleep: async () => undefined,
    });
    expect(got).toEqual(['0.running', '1.canceled']);
    expect(n).toBe(2);

    const statuses: string[] = [];
    const refusal = Object.assign(new Error('generation gen-x not found'), { data: { code: 'NOT_FOUND' } });
    await follow<E>({
      open: () =>
        (async function* () {
          yield* [];
          throw refusal;
        })(),
      onEvent: () => undefined,
      onStatus: (s, d) => statuses.push(`${s}${d ? `: ${d}` : ''}`),
      signal: new AbortController().signal,
      sleep: async () => undefined,
    });
    expect(statuses).toEqual(['connecting', 'error: generation gen-x not found']);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    let opens = 0;
    const done = follow<E>({
      open: () =>
        (async function* () {
          opens++;
          yield ev(opens);
          ac.abort();
          throw new Error('closed');
        })(),
      onEvent: () => undefined,
      signal: ac.signal,
      sleep: async () => undefined,
    });
    expect(await done).toBe('1.running');
    expect(opens).toBe(1);
  });
});
