import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './paths.js';
import { freePort, isListening } from './ports.js';
import { stopTemporalDev } from './temporal.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'oneflow-up-'));
afterAll(async () => {
  await stopTemporalDev(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

// The README's main command, as a person runs it: up, use it, Ctrl-C.
describe('main command (infra/dev/src/up.ts)', () => {
  it('brings up Temporal, worker and API, prints where they listen, and stops cleanly on SIGINT', async () => {
    const [temporalPort, apiPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/dev/src/up.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ONEFLOW_DATA_DIR: dataDir, ONEFLOW_TEMPORAL_PORT: String(temporalPort), API_PORT: String(apiPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    const deadline = Date.now() + 150_000;
    while (!output.includes('press Ctrl-C to stop')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`up did not become ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(output).toContain(`API (tRPC)        http://127.0.0.1:${apiPort}/trpc`);
    expect(output).toContain(`Temporal gRPC     127.0.0.1:${temporalPort}`);
    expect(output).toContain(`Temporal store    ${path.join(dataDir, 'temporal', 'temporal.sqlite')}`);
    expect(output).toContain('smoke workflow    "hello, oneflow" from oneflow-gpu');
    // the shipped model is under models/: one real generation went through the pipeline
    expect(output).toMatch(/generation {8}oneflow-toy-v1: "count from two to five" → "[^"]+" \(\d+ steps, \d+ images, \d+ ms\)/);

    const res = await fetch(`http://127.0.0.1:${apiPort}/trpc/health`);
    const body = (await res.json()) as { result: { data: { status: string } } };
    expect(body.result.data.status).toBe('ok');

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped (Temporal store kept in the data dir)');
    expect(await isListening(apiPort)).toBe(false);
    expect(await isListening(temporalPort)).toBe(false);
    expect(existsSync(path.join(dataDir, 'temporal', 'temporal.sqlite'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'temporal', 'server.json'))).toBe(false);
  }, 200_000);
});
