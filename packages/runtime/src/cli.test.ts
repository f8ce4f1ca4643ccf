import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '@oneflow/sampler';
import { fixturesDir } from '@oneflow/sampler/testing';
import { type GenerateResult, main, USAGE, wantsHelp } from './cli.js';
import { pixelsToPng } from './images.js';

const model = fixturesDir + 'tiny-model';
const bin = fileURLToPath(new URL('../bin/oneflow.js', import.meta.url));

function io(tty = false) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s), isTTY: tty }, stderr: { write: (s: string) => err.push(s) }, cwd: process.cwd() },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

async function run(args: string[], tty = false) {
  const t = io(tty);
  const code = await main(['generate', '--model', model, ...args], t.io);
  return { code, out: t.out(), err: t.err() };
}

describe('oneflow generate', () => {
  it('writes result.json, timings.json, the final checkpoint and one PNG per image; byte-identical when repeated', async () => {
    const dirs = [await mkdtemp(join(tmpdir(), 'oneflow-a-')), await mkdtemp(join(tmpdir(), 'oneflow-b-'))];
    for (const d of dirs)
      expect((await run(['--prompt', 'count from two to five', '--seed', '1', '--steps', '8', '--out', d])).code).toBe(0);
    const [a, b] = dirs as [string, string];
    const result = JSON.parse(await readFile(join(a, 'result.json'), 'utf8')) as GenerateResult;
    expect(result.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.seed).toBe(1);
    expect(result.params.steps).toBe(8);
    expect(result.text.split(' ').filter((w) => w === '<image>')).toHaveLength(result.images.length);
    expect(result.images.length).toBeGreaterThan(0); // the tiny fixture model inserts images often
    const files = (await readdir(a)).sort();
    expect(files).toEqual(['final.ckpt', ...result.images, 'result.json', 'timings.json'].sort());
    for (const f of files.filter((x) => x !== 'timings.json'))
      expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
    const png = PNG.sync.read(await readFile(join(a, result.images[0]!)));
    expect([png.width, png.height]).toEqual([28, 28]);
    const ckpt = decodeCheckpoint(await readFile(join(a, 'final.ckpt')), result.checkpoint);
    expect(ckpt.state.tokens).toEqual(result.tokens);
    const timings = JSON.parse(await readFile(join(a, 'timings.json'), 'utf8')) as { steps: number; modelMs: number };
    expect(timings.steps).toBe(result.steps);
    expect(timings.modelMs).toBeGreaterThan(0);
  });

  it('takes input images, prints JSON with --json, and draws live progress on a terminal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oneflow-c-'));
    const img = join(dir, 'in.png');
    await writeFile(img, pixelsToPng(new Float32Array(784).fill(-1), [1, 28, 28]));
    const j = await run(['--prompt', 'what is this ?', '--image', img, '--steps', '4', '--out', join(dir, 'o1'), '--json']);
    expect(j.code).toBe(0);
    const result = JSON.parse(j.out) as GenerateResult;
    expect(result.inputImages).toBe(1);
    expect(result.tokens[1]).toBe(3); // the image goes first: <bos> <image> what is this ? <sep>
    const live = await run(['--prompt', 'draw a seven', '--steps', '4', '--guidance', '1', '--out', join(dir, 'o2')], true);
    expect(live.code).toBe(0);
    expect(live.out).toMatch(/step 4 {2}t_text 1\.00/);
    expect(live.out).toContain('\x1b[');
  });

  it.each([
    [['--prompt', 'draw a seven'], /--out DIR is required/],
    [['--out', '/tmp/x'], /--prompt is required/],
    [['--prompt', 'draw a unicorn', '--out', '/tmp/x'], /"unicorn" is not in the model's vocabulary/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--steps', '0'], /--steps must be an integer in \[1, 10000\], got "0"/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--temperature', 'hot'], /--temperature must be a number in \(0, 100\], got "hot"/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--seed=-3'], /--seed must be an integer in \[0, 4294967295\], got "-3"/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--image', '/nonexistent.png'], /--image \/nonexistent.png: no such file/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--colour', 'red'], /Unknown option '--colour'/],
    [['--prompt', 'draw', '--out', '/tmp/x', '--provider', 'tpu'], /--provider must be cpu or cuda, got "tpu"/],
  ])('rejects %j with exit code 2 and a clear message', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toContain('Usage: oneflow generate');
  });

  it('exits 2 from the real binary on bad arguments', async () => {
    const err = await promisify(execFile)(process.execPath, [bin, 'generate', '--steps', 'x'], { encoding: 'utf8' }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/--prompt is required/);
  });
});

describe('oneflow --help', () => {
  it.each([
    [['--help']],
    [['-h']],
    [['help']],
    [['help', 'generate']],
    [['generate', '--help']],
    [['generate', '-h']],
    [['generate', '--prompt', 'draw', '--help']],
  ])('%j prints the usage to stdout and exits 0', async (argv) => {
    const t = io();
    expect(await main(argv, t.io)).toBe(0);
    expect(t.out()).toBe(USAGE);
    expect(t.err()).toBe('');
  });

  it('takes `-h` after a value-taking option as its value, not as help', async () => {
    expect(wantsHelp(['--prompt', '-h', '--out', '/tmp/x'])).toBe(false);
    expect(wantsHelp(['--prompt', 'draw', '-h'])).toBe(true);
    expect(wantsHelp(['--prompt=draw', '--json'])).toBe(false);
  });

  it.each([
    [[], /a command is required/],
    [['help', 'train'], /no help for "train"; the command is generate/],
    [['train', '--help'], /unknown command "train"/],
  ])('%j is a usage error: exit 2, usage on stderr, nothing on stdout', async (argv, message) => {
    const t = io();
    expect(await main(argv, t.io)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err()).toContain(USAGE);
    expect(t.out()).toBe('');
  });

  it('prints the usage from the real binary with exit 0 (--help, -h, help)', async () => {
    for (const args of [['--help'], ['generate', '-h'], ['help']]) {
      const r = await promisify(execFile)(process.execPath, [bin, ...args], { encoding: 'utf8' });
      expect(r.stdout, args.join(' ')).toBe(USAGE);
      expect(r.stderr).toBe('');
    }
    const none = await promisify(execFile)(process.execPath, [bin], { encoding: 'utf8' }).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(none?.code).toBe(2);
    expect(none?.stdout).toBe('');
    expect(none?.stderr).toContain('Usage: oneflow generate');
  });
});

const shipped = fileURLToPath(new URL('../../../models/oneflow-toy-v1/', import.meta.url));
describe.skipIf(!existsSync(shipped + 'config.json'))('oneflow generate with the shipped model (issue 4 acceptance)', () => {
  it('`--prompt "count from two to five" --seed 1` writes a result with images, byte-identical twice', async () => {
    const dirs = [await mkdtemp(join(tmpdir(), 'oneflow-s1-')), await mkdtemp(join(tmpdir(), 'oneflow-s2-'))];
    for (const d of dirs) {
      const t = io();
      expect(await main(['generate', '--prompt', 'count from two to five', '--seed', '1', '--out', d], t.io), t.err()).toBe(0);
    }
    const result = JSON.parse(await readFile(join(dirs[0]!, 'result.json'), 'utf8')) as GenerateResult;
    expect(result.model.name).toBe('oneflow-toy-v1');
    expect(result.images.length).toBeGreaterThan(0);
    for (const f of ['result.json', 'final.ckpt', ...result.images]) {
      expect((await readFile(join(dirs[0]!, f))).equals(await readFile(join(dirs[1]!, f))), f).toBe(true);
    }
  });
});
