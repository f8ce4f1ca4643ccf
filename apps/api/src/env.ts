import { z } from 'zod';
import { DEFAULT_MIN_ACTIVITY_MS, DEFAULT_STEPS_PER_ACTIVITY } from '@oneflow/contracts';
import { temporalConnectionEnvShape } from '@oneflow/contracts/temporal-connection';

/** The API's configuration, validated once at boot. */
export const apiEnvSchema = z.object({
  /** TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS / API-key settings (shared with the worker). */
  ...temporalConnectionEnvShape,
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The worker's data dir: checkpoints are read from `<dir>/checkpoints` (same as the worker's). */
  ONEFLOW_DATA_DIR: z.string().min(1).default('.oneflow'),
  /** The worker's S3-compatible checkpoint store, when it uses one (credentials from the AWS environment). */
  ONEFLOW_S3_BUCKET: z.string().min(1).optional(),
  ONEFLOW_S3_PREFIX: z.string().default('checkpoints/'),
  ONEFLOW_S3_ENDPOINT: z.string().url().optional(),
  ONEFLOW_S3_REGION: z.string().default('us-east-1'),
  /** Comma-separated model directories; default: every `models/*` with a config.json (as the worker). */
  ONEFLOW_MODELS: z.string().optional(),
  /** API keys `tenant:sha256hex[,tenant:sha256hex…]` (the SHA-256 of each key, never the key). */
  ONEFLOW_API_KEYS: z.string().optional(),
  /** A JSON file `[{ "tenant": "...", "sha256": "...", "ratePerMinute"?: n }]`. */
  ONEFLOW_API_KEYS_FILE: z.string().optional(),
  /** Requests per key per minute (token bucket; the burst is a tenth of it, at least 10). */
  API_RATE_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  /** Webhook signing secrets `tenant:whsec_…,…` (also the key file's `webhookSecret`); the worker reads the same. */
  ONEFLOW_WEBHOOK_SECRETS: z.string().optional(),
  STEPS_PER_ACTIVITY: z.coerce.number().int().min(1).max(1024).default(DEFAULT_STEPS_PER_ACTIVITY),
  /** Model time each activity after the first aims for (ms): steps per activity adapt to the model; 0 = always STEPS_PER_ACTIVITY. */
  MIN_ACTIVITY_MS: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_MIN_ACTIVITY_MS),
});
export type ApiEnv = z.infer<typeof apiEnvSchema>;
