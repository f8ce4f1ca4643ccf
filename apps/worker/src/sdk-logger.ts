import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Routes the Temporal SDK's own logs (worker state, bundler) into our pino logger as JSON, at
 * `level` and above. Must run before the first Worker or NativeConnection is created.
 */
export function installSdkLogger(logger: Logger, level: LogLevel): void {
  const child = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => child[PINO_LEVEL[l]](meta ?? {}, message)),
  });
}
