import { NativeConnection } from '@temporalio/worker';
import { pino } from 'pino';
import { workerEnvSchema } from './env.js';
import { installSdkLogger } from './sdk-logger.js';
import { createWorkers } from './worker.js';

const env = workerEnvSchema.parse(process.env);
const logger = pino({ name: 'oneflow-worker', level: env.LOG_LEVEL });
installSdkLogger(logger, env.SDK_LOG_LEVEL);

const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
const workers = await createWorkers({ connection, namespace: env.TEMPORAL_NAMESPACE, logger });
logger.info({ address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE }, 'worker ready');
// Temporal's runtime turns SIGINT/SIGTERM into a graceful shutdown of both workers.
await workers.run();
await connection.close();
logger.info('worker stopped');
