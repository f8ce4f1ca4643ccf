import { pino } from 'pino';
import { webhookSecretsFromConfig } from '@oneflow/contracts';
import { serviceConfigOrExit } from '@oneflow/contracts/temporal-connection';
import { KeyRing } from './auth.js';
import { checkpointStoreFromEnv, createJobDeps } from './deps.js';
import { apiEnvSchema } from './env.js';
import { createApiServer } from './server.js';
import { createTemporalGateway } from './temporal.js';

// Address, namespace, TLS / mTLS and API key: the same parser as the worker's.
const { env, temporal: temporalSettings } = serviceConfigOrExit('oneflow-api', apiEnvSchema);
const logger = pino({ name: 'oneflow-api', level: env.LOG_LEVEL });
const keys = KeyRing.fromConfig(env.ONEFLOW_API_KEYS, env.ONEFLOW_API_KEYS_FILE, { logger });
if (keys.open)
  logger.warn('no API keys configured (ONEFLOW_API_KEYS / ONEFLOW_API_KEYS_FILE): the API is open, every caller is tenant "default"');
const temporal = createTemporalGateway(temporalSettings.address, temporalSettings.namespace, temporalSettings.connection);
const store = checkpointStoreFromEnv(env);
const webhookTenants = webhookSecretsFromConfig(env.ONEFLOW_WEBHOOK_SECRETS, keys.entries).keys();
const jobs = await createJobDeps({
  dataDir: env.ONEFLOW_DATA_DIR,
  store,
  models: env.ONEFLOW_MODELS,
  ratePerMinute: env.API_RATE_PER_MINUTE,
  stepsPerActivity: env.STEPS_PER_ACTIVITY,
  minActivityMs: env.MIN_ACTIVITY_MS,
  webhookTenants,
});
const api = await createApiServer({
  inner: { temporal, version: '0.1.0', startedAt: Date.now(), jobs },
  host: env.API_HOST,
  port: env.API_PORT,
  logger,
  keys,
});
logger.info(
  {
    url: api.url,
    baseUrl: api.baseUrl,
    models: jobs.models.list().map((m) => m.config.spec.name),
    store: store.location,
    temporal: temporalSettings.summary,
    auth: keys.open ? 'open' : 'keys',
  },
  'api listening',
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'api stopping');
    void Promise.all([api.close(), temporal.close()]).finally(() => process.exit(0));
  });
}
