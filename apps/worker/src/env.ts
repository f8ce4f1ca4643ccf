import { z } from 'zod';
import { temporalConnectionEnvShape } from '@oneflow/contracts/temporal-connection';

/** The worker's configuration, validated once at boot. */
export const workerEnvSchema = z.object({
  /** TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS / API-key settings (shared with the API). */
  ...temporalConnectionEnvShape,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The Temporal SDK's own log level (worker state changes, workflow bundling). */
  SDK_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
  /** Data dir of the embedded stack; local checkpoints live in `<dir>/checkpoints`. */
  ONEFLOW_DATA_DIR: z.string().min(1).default('.oneflow'),
  /** Comma-separated model directories (config.json + ONNX); default: every `models/*` that has a config.json. */
  ONEFLOW_MODELS: z.string().optional(),
  /** S3-compatible checkpoint store instead of the local directory (credentials from the AWS environment). */
  ONEFLOW_S3_BUCKET: z.string().min(1).optional(),
  ONEFLOW_S3_PREFIX: z.string().default('checkpoints/'),
  ONEFLOW_S3_ENDPOINT: z.string().url().optional(),
  ONEFLOW_S3_REGION: z.string().default('us-east-1'),
  /** Model worker threads (each holds a session) and rows per forward pass. */
  MODEL_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  MODEL_MAX_BATCH: z.coerce.number().int().min(1).max(1024).default(16),
  /** onnxruntime execution provider for every model (default: config.json `execution_provider`, else cpu). */
  MODEL_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).optional(),
  /** Concurrent `advance` activities; default: enough to fill the micro-batches. */
  ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(1024).optional(),
  /** Task queues this process serves: `cpu` (workflows), `gpu` (model steps), or both. */
  WORKER_QUEUES: z
    .string()
    .default('cpu,gpu')
    .transform((v) =>
      v
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['cpu', 'gpu'])).min(1)),
  /** Prometheus metrics on http://127.0.0.1:<port>/metrics; 0 = an OS-chosen port. Unset = off. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** Compression of new checkpoint blobs at rest (every kind is read; docs/operations.md "Retention"). */
  ONEFLOW_CHECKPOINT_COMPRESSION: z.enum(['none', 'deflate', 'brotli']).default('none'),
  /** Retention policy, JSON (or a file of it): see docs/operations.md "Retention and garbage collection". */
  ONEFLOW_RETENTION: z.string().optional(),
  ONEFLOW_RETENTION_FILE: z.string().optional(),
  /** Cron of the checkpoint collection schedule (created by workflow workers at start); `off` removes it. */
  ONEFLOW_GC_SCHEDULE: z.string().min(1).default('17 * * * *'),
  /** Webhook signing secrets `tenant:whsec_…,…` (the API reads the same; see docs/api.md). */
  ONEFLOW_WEBHOOK_SECRETS: z.string().optional(),
  /** The API's key file: the worker reads only its entries' `webhookSecret`. */
  ONEFLOW_API_KEYS_FILE: z.string().optional(),
});
export type WorkerEnv = z.infer<typeof workerEnvSchema>;
