import { describe, expect, it } from 'vitest';
import { failedChecks, runChaos } from './chaos.js';

// The chaos soak, shortened to fit the test suite: the same harness as bench/chaos/soak.ts (two
// real worker processes killed with SIGKILL every few seconds, a Temporal server of its own that
// restarts once, two sweeps of the retention collector, webhooks to a real receiver), fewer and
// shorter generations. Its own Temporal server: no shared namespace.
describe('chaos', () => {
  it('every generation, branch, refinement and batch item succeeds byte-identical to the reference; none lost; webhooks and retention hold', async () => {
    const report = await runChaos({
      generations: 8,
      branches: 2,
      refinements: 2,
      batchItems: 6,
      steps: 6,
      submitOverSeconds: 8,
      killEverySeconds: [4, 7],
      chaosSeconds: 70,
      temporalRestartAt: 20,
      gcAt: [64, 76],
      keepEvery: 5,
      failFirst: 1,
      seed: Date.now() % 100_000,
      log: (line) => console.log(`chaos ${line}`),
    });
    console.log(`chaos report: ${JSON.stringify({ ...report.chaos, ...report.seconds, sweeps: report.retention.sweeps })}`);
    expect(report.outcome.notSucceeded).toEqual([]);
    expect(report.outcome.different).toEqual([]);
    expect(report.outcome.byteIdentical).toBe(18);
    expect(report.outcome.lost).toBe(0);
    expect(report.webhooks.missing).toEqual([]);
    expect(report.webhooks.inconsistent).toEqual([]);
    expect(report.webhooks.retriedMessages).toBe(18); // every message was refused once, then retried under its webhook-id
    expect(report.retention.missing).toEqual([]);
    expect(report.retention.checked).toBeGreaterThan(18 * 2);
    expect(report.retention.sweeps.reduce((n, s) => n + s.reclaimedBlobs, 0)).toBeGreaterThan(0);
    expect(report.chaos).toMatchObject({ temporalRestarts: 1, gcSweeps: 2 });
    expect(report.chaos.workerKills).toBeGreaterThanOrEqual(6);
    expect(failedChecks(report)).toEqual([]);
  }, 240_000);
});
