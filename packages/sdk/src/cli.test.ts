import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { REPO_ROOT } from '@oneflow/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { main, USAGE, wantsHelp, type ApiGenerateResult, type CliIo } from './cli.js';
import { KEYS, startStack, type Stack } from './testing/stack.js';

// `oneflow generate --api` (packages/sdk/bin/oneflow.js) against the real stack: the API in this
// process, a real worker process, the shared Temporal dev server (namespace of this file).
const execFileAsync = promisify(execFile);
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ address: inject('temporalAddress'), namespace: 'test-cli', worker: true });
});
afterAll(async () => {
  await stack?.close();
});

/** Runs `main` in this process (the API under test must keep answering), capturing its output. */
async function run(
  argv: string[],
  env: Record<string, string | undefined> = { ONEFLOW_API_KEY: KEYS.acme },
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: stack.dataDir,
    env,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('oneflow generate --api', () => {
  it('generates through the API with progress (step/total, partial text) and saves the images', async () => {
    const out = path.join(stack.dataDir, 'cli-out');
    // The real bin, as a user runs it (not spawnSync: the API runs in this process).
    const res = await execFileAsync(
      process.execPath,
      [
        'packages/sdk/bin/oneflow.js',
        'generate',
        '--api',
        stack.api.baseUrl,
        '--prompt',
        'draw a seven',
        '--seed',
        '3',
        '--steps',
        '16',
        '--out',
        out,
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ONEFLOW_API_KEY: KEYS.acme, INIT_CWD: REPO_ROOT }, encoding: 'utf8', timeout: 60_000 },
    );
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^generation gen-\S+ \(tiny-model\): (queued|running)$/);
    const progress = lines
      .map((l) => /^step (\d+)\/(\d+) {2}(\w+) {2}t_text (\S+) {2}images \[[^\]]*\] {2}(.*)$/.exec(l))
      .filter((m) => m !== null);
    expect(progress.length).toBeGreaterThan(3);
    const steps = progress.map((m) => Number(m[1]));
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    for (const m of progress) expect(Number(m[1])).toBeLessThanOrEqual(Number(m[2]));
    const last = progress.at(-1)!;
    expect(last[3]).toBe('succeeded');
    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as ApiGenerateResult;
    const g = await stack.acme.generations.get(result.id);
    expect(result).toMatchObject({
      id: g.id,
      state: 'succeeded',
      text: g.text,
      step: g.step,
      checkpointId: g.checkpointId,
      model: 'tiny-model',
    });
    expect(last[5]).toBe(g.text); // the partial text of the last event is the final text
    expect(result.images).toEqual(g.images.map((im) => `image-${im.index}.png`));
    for (const [k, file] of result.images.entries()) {
      const bytes = readFileSync(path.join(out, file));
      expect(PNG.sync.read(bytes).width).toBe(28);
      expect(Buffer.compare(bytes, Buffer.from(await stack.acme.generations.fetchImage(g.images[k]!.url)))).toBe(0);
    }
    expect(lines.at(-1)).toBe(`${result.images.length} image(s), ${g.step} steps → ${out}`);
  }, 90_000);

  it('--json prints result.json only', async () => {
    const r = await run([
      'generate',
      '--api',
      stack.api.baseUrl,
      '--prompt',
      'draw a seven',
      '--steps',
      '8',
      '--json',
      '--out',
      'json-out',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as ApiGenerateResult).state).toBe('succeeded');
    expect(readFileSync(path.join(stack.dataDir, 'json-out', 'result.json'), 'utf8')).toBe(r.stdout);
  }, 60_000);

  it('bad input: usage errors and the API’s BAD_REQUEST exit 2 with the reason, nothing created', async () => {
    const api = ['--api', stack.api.baseUrl];
    const before = (await stack.acme.generations.list({ limit: 100 })).items.length;
    let r = await run(['generate', ...api, '--prompt', 'draw a seven', '--steps', 'many']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--steps must be an integer in [1, 1024], got "many"')]);
    r = await run(['generate', ...api]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--prompt is required')]);
    r = await run(['generate', '--prompt', 'x'], { ONEFLOW_API_KEY: KEYS.acme });
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--api URL is required')]);
    r = await run(['generate', '--api', 'not a url', '--prompt', 'x']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--api must be a URL')]);
    r = await run(['generate', ...api, '--prompt', 'draw a zebra']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused the request \(BAD_REQUEST\): .*zebra/);
    r = await run(['generate', ...api, '--prompt', 'draw a seven', '--model', 'nope']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/BAD_REQUEST.*unknown model "nope"/)]);
    r = await run(['generate', ...api, '--prompt', 'draw a seven'], {});
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/UNAUTHORIZED.*set ONEFLOW_API_KEY/)]);
    r = await run(['generate', ...api, '--prompt', 'draw a seven', '--image', 'missing.png']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--image missing.png')]);
    expect((await stack.acme.generations.list({ limit: 100 })).items.length).toBe(before);
  }, 60_000);

  it('an unreachable API exits 3 with a clear message', async () => {
    const r = await run(['generate', '--api', 'http://127.0.0.1:9', '--prompt', 'draw a seven']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the API .*is it running/);
  });

  it('the in-process CLI points --api at this one', async () => {
    const r = await execFileAsync(process.execPath, ['packages/runtime/bin/oneflow.js', 'generate', '--api', 'http://x', '--prompt', 'p'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('packages/sdk/bin/oneflow.js generate --api') as unknown });
  });
});

describe('oneflow --help', () => {
  it.each([
    [['--help']],
    [['-h']],
    [['help']],
    [['help', 'generate']],
    [['generate', '--help']],
    [['generate', '--api', 'http://x', '-h']],
  ])('%j prints the usage to stdout and exits 0 (no API, no key needed)', async (argv) => {
    const r = await run(argv, {});
    expect(r).toEqual({ code: 0, stdout: USAGE, stderr: '' });
  });

  it('takes `-h` after a value-taking option as its value, not as help', () => {
    expect(wantsHelp(['--prompt', '-h'])).toBe(false);
    expect(wantsHelp(['--api', 'http://x', '--help'])).toBe(true);
  });

  it.each([
    [[], /a command is required/],
    [['help', 'serve'], /no help for "serve"; the command is generate/],
  ])('%j is a usage error: exit 2, usage on stderr only', async (argv, message) => {
    const r = await run(argv, {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(USAGE);
  });

  it('prints the usage from the real binary with exit 0', async () => {
    for (const args of [['--help'], ['generate', '-h'], ['help']]) {
      const r = await execFileAsync(process.execPath, ['packages/sdk/bin/oneflow.js', ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, ONEFLOW_API_URL: '', ONEFLOW_API_KEY: '' },
        encoding: 'utf8',
      });
      expect(r.stdout, args.join(' ')).toBe(USAGE);
      expect(r.stderr).toBe('');
    }
  });
});
