import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './paths.js';
import { freePort, isListening } from './ports.js';
import { stopTemporalDev } from './temporal.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'oneflow-up-'));
let child: ChildProcess;
let output = '';
let exited: Promise<number | null>;
let temporalPort = 0;
let apiPort = 0;

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen in time:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
/** The pid `up` printed for the newest start of `service`. */
function pidOf(service: string): number {
  const all = [...output.matchAll(new RegExp(`oneflow\\S* ${service} started \\(pid (\\d+)\\)`, 'g'))];
  return Number(all.at(-1)?.[1]);
}
const count = (text: string) => output.split(text).length - 1;

async function trpc<T>(procedure: string, input: unknown, method: 'GET' | 'POST'): Promise<T> {
  const url = `http://127.0.0.1:${apiPort}/trpc/${procedure}`;
  const res =
    method === 'POST'
      ? await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) })
      : await fetch(input === undefined ? url : `${url}?input=${encodeURIComponent(JSON.stringify(input))}`);
  const body = (await res.json()) as { result?: { data: T }; error?: unknown };
  if (!body.result) throw new Error(`${procedure} answered ${res.status}: ${JSON.stringify(body.error)}`);
  return body.result.data;
}

beforeAll(async () => {
  [temporalPort, apiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ONEFLOW_DATA_DIR: dataDir,
    ONEFLOW_TEMPORAL_PORT: String(temporalPort),
    API_PORT: String(apiPort),
  };
  // As a person runs it: the test run's own webhook allowlist is not in their shell.
  delete env['ONEFLOW_WEBHOOK_ALLOW'];
  child = spawn(process.execPath, ['--import', 'tsx', 'infra/dev/src/up.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
});
afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await stopTemporalDev(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

// The README's main command, as a person runs it: up, use it (a crash on the way), Ctrl-C.
describe('main command (infra/dev/src/up.ts)', () => {
  it('brings up Temporal, worker and API and prints where they listen', async () => {
    await until('press Ctrl-C to stop', () => output.includes('press Ctrl-C to stop'), 150_000);
    expect(output).toContain(`playground        http://127.0.0.1:${apiPort}/   (open it in a browser)`);
    expect(output).toContain(`API (tRPC)        http://127.0.0.1:${apiPort}/trpc`);
    expect(output).toContain(`Temporal gRPC     127.0.0.1:${temporalPort}`);
    expect(output).toContain(`Temporal store    ${path.join(dataDir, 'temporal', 'temporal.sqlite')}`);
    expect(output).toContain('smoke workflow    "hello, oneflow" from oneflow-gpu');
    expect(output).toContain('webhooks allowed  public addresses and localhost,127.0.0.1,::1 (ONEFLOW_WEBHOOK_ALLOW)');
    // the shipped models are under models/: one real generation went through the pipeline, on
    // the one of the newest contract (oneflow-toy-v2 where it is shipped beside v1)
    const demo = existsSync(path.join(REPO_ROOT, 'models', 'oneflow-toy-v2', 'config.json')) ? 'oneflow-toy-v2' : 'oneflow-toy-v1';
    expect(output).toMatch(new RegExp(`generation {8}${demo}: "count from two to five" → "[^"]+" \\(\\d+ steps, \\d+ images, \\d+ ms\\)`));
    const health = await trpc<{ status: string }>('health', undefined, 'GET');
    expect(health.status).toBe('ok');
  }, 200_000);

  it('restarts a worker killed with SIGKILL (and says so), and a generation still finishes; likewise the API', async () => {
    const workerPid = pidOf('worker');
    expect(workerPid).toBeGreaterThan(0);
    process.kill(workerPid, 'SIGKILL');
    await until('worker restart', () => output.includes('worker exited unexpectedly (signal SIGKILL); restarting it in 1 s'), 20_000);
    await until('worker ready again', () => output.includes('worker ready again'), 120_000);
    expect(pidOf('worker')).not.toBe(workerPid);

    const g = await trpc<{ id: string }>(
      'generations.create',
      { model: 'oneflow-toy-v1', prompt: 'count from two to five', seed: 4 },
      'POST',
    );
    let state = '';
    const deadline = Date.now() + 120_000;
    while (state !== 'succeeded' && Date.now() < deadline) {
      state = (await trpc<{ state: string }>('generations.get', { id: g.id }, 'GET')).state;
      expect(['queued', 'running', 'succeeded']).toContain(state);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(state).toBe('succeeded');

    const apiPid = pidOf('api');
    process.kill(apiPid, 'SIGKILL');
    await until('api restart', () => output.includes('api exited unexpectedly (signal SIGKILL); restarting it in 1 s'), 20_000);
    await until('api ready again', () => output.includes('api ready again'), 60_000);
    expect((await trpc<{ state: string }>('generations.get', { id: g.id }, 'GET')).state).toBe('succeeded');
    expect(count('exited unexpectedly')).toBe(2);
  }, 300_000);

  it('stops cleanly on SIGINT', async () => {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped (Temporal store kept in the data dir)');
    // nothing was restarted while stopping
    expect(count('exited unexpectedly')).toBe(2);
    expect(await isListening(apiPort)).toBe(false);
    expect(await isListening(temporalPort)).toBe(false);
    expect(existsSync(path.join(dataDir, 'temporal', 'temporal.sqlite'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'temporal', 'server.json'))).toBe(false);
  }, 60_000);
});
