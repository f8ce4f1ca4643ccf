/**
 * Chaos soak: 100 generations, 10 branches and 10 refinements, one batch of 50, with webhooks, on
 * two worker processes, the API and a Temporal dev server of its own (SQLite), while a random
 * worker is killed with SIGKILL every few seconds (and restarted), the Temporal server restarts
 * once and the retention collector sweeps twice (`bench/chaos/chaos.ts`). Afterwards: every
 * generation succeeded, byte-identical to the in-process reference, none lost, every webhook
 * message delivered at least once with one webhook-id and body over its retries, nothing the
 * retention policy keeps missing. Writes bench/results/chaos.json; exits 1 when a check fails.
 *
 *   nice -n 10 node --import tsx bench/chaos/soak.ts [--generations 100] [--branches 10] [--refinements 10]
 *     [--batch 50] [--steps 8] [--seed 1] [--out FILE]
 */
import { parseArgs } from 'node:util';
import { log, resultPath, writeReport } from '../report.js';
import { failedChecks, runChaos } from './chaos.js';

const { values } = parseArgs({
  options: {
    generations: { type: 'string', default: '100' },
    branches: { type: 'string', default: '10' },
    refinements: { type: 'string', default: '10' },
    batch: { type: 'string', default: '50' },
    steps: { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: resultPath('chaos') },
  },
});

const report = await runChaos({
  generations: Number(values.generations),
  branches: Number(values.branches),
  refinements: Number(values.refinements),
  batchItems: Number(values.batch),
  steps: Number(values.steps),
  submitOverSeconds: 90,
  killEverySeconds: [3, 7],
  chaosSeconds: 420,
  temporalRestartAt: 60,
  gcAt: [150, 300],
  keepEvery: 5,
  failFirst: 1,
  seed: Number(values.seed),
  log,
});
const failed = failedChecks(report);
await writeReport(values.out, {
  benchmark: 'chaos soak',
  command: 'nice -n 10 node --import tsx bench/chaos/soak.ts',
  model: 'packages/sampler/fixtures/tiny-model',
  ...report,
  checks: { passed: failed.length === 0, failed },
});
log(
  `${report.outcome.succeeded}/${report.workload.total} succeeded, ${report.outcome.byteIdentical} byte-identical, ${report.outcome.lost} lost; ` +
    `${report.chaos.workerKills} worker kills, ${report.chaos.temporalRestarts} Temporal restart, ${report.chaos.gcSweeps} sweeps ` +
    `(${report.retention.sweeps.map((s) => s.reclaimedBlobs).join(' + ')} blobs reclaimed, ${report.retention.missing.length} kept missing); ` +
    `webhooks ${report.webhooks.delivered}/${report.webhooks.expectedMessages} delivered in ${report.webhooks.attempts} attempts; ${report.seconds.total} s`,
);
if (failed.length > 0) {
  log(`FAILED: ${failed.join(', ')}`);
  process.exitCode = 1;
}
