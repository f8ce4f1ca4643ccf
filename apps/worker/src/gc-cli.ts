import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { serviceConfigOrExit } from '@oneflow/contracts/temporal-connection';
import { storeFromSettings } from '@oneflow/store';
import { workerEnvSchema } from './env.js';
import { retentionPolicyFromEnv } from './gc/policy.js';
import { createCollector } from './gc/setup.js';
import { checkpointIdOf } from './sampler-engine.js';

// The admin command: one collection with the worker's settings (store, namespace, policy), now.
//   node --import tsx apps/worker/src/gc-cli.ts [--dry-run] [--allow-no-generations]
const { values } = parseArgs({
  options: {
    'dry-run': { type: 'boolean', default: false },
    'allow-no-generations': { type: 'boolean', default: false },
    // Evaluate the policy's ages as of this time (what-if reports; tests); the grace period counts from it too.
    'as-of': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: gc-cli [--dry-run] [--allow-no-generations] [--as-of <ISO time>]\n' +
      '  one mark-and-sweep of the checkpoint store with the worker environment (ONEFLOW_*, TEMPORAL_*);\n' +
      '  prints the report as JSON (blobs and bytes kept and reclaimed); --dry-run deletes nothing\n',
  );
  process.exit(0);
}
const { env, temporal } = serviceConfigOrExit('oneflow-gc', workerEnvSchema);
const logger = pino({ name: 'oneflow-gc', level: env.LOG_LEVEL }, pino.destination(2));
let policy;
try {
  policy = retentionPolicyFromEnv(env);
} catch (error) {
  process.stderr.write(`oneflow-gc: ${(error as Error).message}\n`);
  process.exit(2);
}
const asOf = values['as-of'] !== undefined ? new Date(values['as-of']) : undefined;
if (asOf && Number.isNaN(asOf.getTime())) {
  process.stderr.write(`oneflow-gc: --as-of ${values['as-of']} is not a time\n`);
  process.exit(2);
}
const store = storeFromSettings(env, checkpointIdOf);
const connection = await Connection.connect(temporal.connection);
try {
  const collector = createCollector({
    store,
    client: new Client({ connection, namespace: temporal.namespace }),
    policy,
    logger,
    allowNoGenerations: values['allow-no-generations'],
    ...(asOf ? { now: () => asOf } : {}),
  });
  const report = await collector.run({ dryRun: values['dry-run'] });
  process.stdout.write(`${JSON.stringify({ store: store.location, namespace: temporal.namespace, ...report }, null, 2)}\n`);
} catch (error) {
  process.stderr.write(`oneflow-gc: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await connection.close();
}
