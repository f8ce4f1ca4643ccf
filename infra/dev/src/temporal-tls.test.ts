import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CPU_TASK_QUEUE, WORKFLOWS, type Health, type SmokeResult } from '@oneflow/contracts';
import { temporalConnectionFromEnv } from '@oneflow/contracts/temporal-connection';
import { makeTestPki, startGrpcTlsProxy, type GrpcTlsProxy, type TestPki } from './grpc-tls-proxy.js';
import { REPO_ROOT } from './paths.js';
import { freePort } from './ports.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

// A secured cluster, as far as this machine can make one: the shared dev server behind a
// TLS-terminating HTTP/2 proxy that requires a client certificate from a CA made here, and records
// every call's headers. The worker and the API run as their own processes with nothing but the
// TEMPORAL_* variables of docs/operations.md; the test client goes through the same parser.
const NAMESPACE = 'test-tls';
const SERVER_NAME = 'temporal.oneflow.test';
const API_KEY = 'test-api-key-3f9c';
const MODEL_DIR = path.join(REPO_ROOT, 'packages', 'sampler', 'fixtures', 'tiny-model');

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-temporal-tls-'));
let pki: TestPki;
let proxy: GrpcTlsProxy;
let worker: WorkerProcess | undefined;
let secureEnv: Record<string, string>;

beforeAll(async () => {
  pki = makeTestPki(path.join(dir, 'pki'), SERVER_NAME, 'oneflow-worker');
  proxy = await startGrpcTlsProxy({
    upstream: inject('temporalAddress'),
    cert: pki.read(pki.serverCert),
    key: pki.read(pki.serverKey),
    clientCa: pki.read(pki.ca),
  });
  secureEnv = {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_TLS_CA_PATH: pki.ca,
    TEMPORAL_TLS_CERT_PATH: pki.clientCert,
    TEMPORAL_TLS_KEY_PATH: pki.clientKey,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_API_KEY: API_KEY,
    TEMPORAL_GRPC_METADATA: 'x-oneflow-probe=tls-test',
  };
});

afterAll(async () => {
  await worker?.stop();
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the API entry point as its own process; resolves with its URL once it listens. */
async function startApiProcess(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, API_PORT: String(port), ONEFLOW_DATA_DIR: path.join(dir, 'data'), ONEFLOW_MODELS: MODEL_DIR },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    for (const s of [child.stdout, child.stderr]) {
      createInterface({ input: s }).on('line', (line) => {
        log += `${line}\n`;
        if (line.includes('"api listening"')) resolve();
      });
    }
    void exited.then((code) => reject(new Error(`api exited (${String(code)}):\n${log}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('Temporal over TLS with a client certificate and an API key', () => {
  it('worker process, API process and client all connect through the TLS front with the configured credentials', async () => {
    worker = await startWorkerProcess({
      address: proxy.address,
      namespace: NAMESPACE,
      dataDir: path.join(dir, 'data'),
      models: [MODEL_DIR],
      env: secureEnv,
    });
    const api = await startApiProcess(secureEnv);
    try {
      // The API reaches Temporal through its gateway (health pings getSystemInfo over the same connection).
      const health = (await (await fetch(`${api.url}/trpc/health`)).json()) as { result: { data: Health } };
      expect(health.result.data.temporal).toEqual({ address: proxy.address, namespace: NAMESPACE, reachable: true });

      const settings = temporalConnectionFromEnv(secureEnv);
      const connection = await Connection.connect(settings.connection);
      try {
        const client = new Client({ connection, namespace: settings.namespace });
        const result = (await client.workflow.execute(WORKFLOWS.smoke, {
          taskQueue: CPU_TASK_QUEUE,
          workflowId: `tls-smoke-${randomUUID()}`,
          args: [{ name: 'tls' }],
          workflowExecutionTimeout: '60 seconds',
        })) as SmokeResult;
        expect(result.greeting).toContain('tls');
      } finally {
        await connection.close();
      }
    } finally {
      await api.stop();
    }

    // Every call — the worker's polls and completions, the API's health checks, the client's
    // start — carried the API key, the extra metadata and the client certificate.
    const paths = new Set(proxy.calls.map((c) => c.path.split('/').pop()));
    for (const method of [
      'PollWorkflowTaskQueue',
      'RespondWorkflowTaskCompleted',
      'PollActivityTaskQueue',
      'GetSystemInfo',
      'StartWorkflowExecution',
    ]) {
      expect(paths, method).toContain(method);
    }
    for (const call of proxy.calls) {
      expect(call.authorization, call.path).toBe(`Bearer ${API_KEY}`);
      expect(call.headers['x-oneflow-probe'], call.path).toBe('tls-test');
      expect(call.clientCn, call.path).toBe('oneflow-worker');
    }
  });

  it('without the CA the server certificate is rejected, and without a client certificate the server refuses', async () => {
    const before = proxy.calls.length;
    const noCa = temporalConnectionFromEnv({ ...secureEnv, TEMPORAL_TLS_CA_PATH: undefined });
    await expect(
      Connection.connect({ ...noCa.connection, connectTimeout: '3s' }).then((c) => c.workflowService.getSystemInfo({})),
    ).rejects.toThrow();
    const noClientCert = temporalConnectionFromEnv({ ...secureEnv, TEMPORAL_TLS_CERT_PATH: undefined, TEMPORAL_TLS_KEY_PATH: undefined });
    await expect(
      Connection.connect({ ...noClientCert.connection, connectTimeout: '3s' }).then((c) => c.workflowService.getSystemInfo({})),
    ).rejects.toThrow();
    const rogue = temporalConnectionFromEnv({ ...secureEnv, TEMPORAL_TLS_CERT_PATH: pki.rogueCert, TEMPORAL_TLS_KEY_PATH: pki.rogueKey });
    await expect(
      Connection.connect({ ...rogue.connection, connectTimeout: '3s' }).then((c) => c.workflowService.getSystemInfo({})),
    ).rejects.toThrow();
    expect(proxy.calls.length).toBe(before);
  });

  it('a half-configured worker stops at boot with the variable named (exit code 2)', async () => {
    const broken = { ...secureEnv, TEMPORAL_TLS_KEY_PATH: '' };
    const started = startWorkerProcess({
      address: proxy.address,
      namespace: NAMESPACE,
      dataDir: path.join(dir, 'data'),
      models: [MODEL_DIR],
      env: broken,
    });
    await expect(started).rejects.toThrow(/worker exited \(2\)[\s\S]*TEMPORAL_TLS_KEY: a client certificate is set/);
  });
});
