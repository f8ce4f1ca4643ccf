import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './ports.js';
import { startTemporalDev, stopTemporalDev } from './temporal.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** gRPC address of the Temporal dev server the test run shares (in-memory, headless). */
    temporalAddress: string;
  }
}

/**
 * Test files that run workers get a namespace of their own: files run in parallel, and a worker
 * of one file must never pick up another file's tasks on the shared task-queue names.
 */
export const TEST_NAMESPACES = [
  'test-smoke',
  'test-generation',
  'test-sdk',
  'test-worker-process',
  'test-api',
  'test-api-input',
  'test-scale',
  'test-webhook',
  'test-webhooks',
  'test-webhook-target',
  'test-cli',
  'test-tls',
  'test-web',
  'test-models',
  'test-gc',
  'test-retention',
  'test-ownership',
] as const;

/** One real Temporal dev server for the whole test run, started from the registry-installed CLI. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-test-temporal-'));
  const server = await startTemporalDev({
    dataDir: dir,
    port: await freePort(),
    uiPort: null,
    persist: false,
    extraNamespaces: TEST_NAMESPACES,
  });
  project.provide('temporalAddress', server.address);
  return async () => {
    await stopTemporalDev(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}
