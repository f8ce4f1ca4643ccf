import { pino } from 'pino';
import { apiEnvSchema } from './env.js';
import { createApiServer } from './server.js';
import { createTemporalGateway } from './temporal.js';

const env = apiEnvSchema.parse(process.env);
const logger = pino({ name: 'oneflow-api', level: env.LOG_LEVEL });
const temporal = createTemporalGateway(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
const api = await createApiServer({
  inner: { temporal, version: '0.1.0', startedAt: Date.now() },
  host: env.API_HOST,
  port: env.API_PORT,
  logger,
});
logger.info({ url: api.url }, 'api listening');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'api stopping');
    void Promise.all([api.close(), temporal.close()]).finally(() => process.exit(0));
  });
}
