import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '@oneflow/contracts';

/** The worker's configuration, validated once at boot. */
export const workerEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default(DEFAULT_NAMESPACE),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The Temporal SDK's own log level (worker state changes, workflow bundling). */
  SDK_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
});
export type WorkerEnv = z.infer<typeof workerEnvSchema>;
