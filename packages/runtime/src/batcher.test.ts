import { describe, expect, it } from 'vitest';
import { type BatchExecutor, MicroBatcher } from './batcher.js';

/** An executor of our own: doubles numbers, records every execution, with a fixed number of slots. */
function doubler(slots: number, keyOf: (x: number) => string = () => 'all') {
  const runs: { key: string; rows: number[] }[] = [];
  let busy = 0;
  const executor: BatchExecutor<number, number> = {
    keyOf,
    capacity: () => slots - busy,
    execute(rows, key) {
      busy++;
      runs.push({ key, rows: [...rows] });
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          busy--;
          if (rows.includes(-1)) reject(new Error('bad row'));
          else resolve(rows.map((x) => 2 * x));
        }, 5),
      );
    },
  };
  return { executor, runs };
}

describe('MicroBatcher', () => {
  it('merges concurrent submissions of one key into one execution, answering each caller in order', async () => {
    const { executor, runs } = doubler(1);
    const b = new MicroBatcher(executor, { maxBatch: 16, maxWaitMs: 0 });
    const [x, y, z] = await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4, 5, 6])]);
    expect([x, y, z]).toEqual([[2, 4], [6], [8, 10, 12]]);
    expect(runs).toEqual([{ key: 'all', rows: [1, 2, 3, 4, 5, 6] }]);
    expect(b.stats).toEqual({ batches: 1, rows: 6 });
  });

  it('never mixes keys in one execution and caps each at maxBatch', async () => {
    const { executor, runs } = doubler(2, (x) => (x % 2 === 0 ? 'even' : 'odd'));
    const b = new MicroBatcher(executor, { maxBatch: 2, maxWaitMs: 0 });
    const out = await b.submit([1, 2, 3, 4, 5, 6]);
    expect(out).toEqual([2, 4, 6, 8, 10, 12]);
    for (const r of runs) {
      expect(r.rows.length).toBeLessThanOrEqual(2);
      expect(new Set(r.rows.map((x) => x % 2)).size).toBe(1);
    }
    expect(
      runs
        .map((r) => r.rows)
        .flat()
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('waits up to maxWaitMs for more rows while capacity is free', async () => {
    const { executor, runs } = doubler(1);
    const b = new MicroBatcher(executor, { maxBatch: 8, maxWaitMs: 30 });
    const first = b.submit([1]);
    await new Promise((r) => setTimeout(r, 10));
    const second = b.submit([2]);
    expect(await Promise.all([first, second])).toEqual([[2], [4]]);
    expect(runs).toEqual([{ key: 'all', rows: [1, 2] }]);
  });

  it('fails only the callers of a failed execution and keeps serving; close refuses new work', async () => {
    const { executor } = doubler(1, (x) => (x < 0 ? 'bad' : 'good'));
    const b = new MicroBatcher(executor, { maxBatch: 8, maxWaitMs: 0 });
    const [bad, good] = await Promise.allSettled([b.submit([-1]), b.submit([7])]);
    expect(bad.status === 'rejected' && (bad.reason as Error).message).toBe('bad row');
    expect(good).toEqual({ status: 'fulfilled', value: [14] });
    b.close(new Error('closed for the test'));
    await expect(b.submit([1])).rejects.toThrow('closed for the test');
  });

  it('refuses bad options', () => {
    const { executor } = doubler(1);
    expect(() => new MicroBatcher(executor, { maxBatch: 0, maxWaitMs: 0 })).toThrow(/maxBatch must be an integer ≥ 1, got 0/);
    expect(() => new MicroBatcher(executor, { maxBatch: 1, maxWaitMs: -1 })).toThrow(/maxWaitMs must be ≥ 0/);
  });
});
