import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  type SamplerParams,
  type SamplerState,
  encodeCheckpoint,
  generated,
  initState,
  promptImageCount,
  runGeneration,
  validateParams,
} from '@oneflow/sampler';
import { describeModelDir } from './formats.js';
import type { ModelInfo } from './model.js';
import type { ExecutionProvider } from './onnx/tensor.js';
import { ModelRunner } from './runner.js';
import { type Tokenizer, TokenizeError } from './tokenizers/tokenizer.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DEFAULT_MODEL = 'models/oneflow-toy-v1';

export const USAGE = `Usage: oneflow generate --prompt TEXT --out DIR [options]

  --prompt TEXT        the prompt (word-level models: words of their vocabulary); <image> marks where an --image goes
  --image FILE.png     an input image (repeatable; without <image> marks images go first)
  --steps N            sampling steps (default: the model's sampler_defaults)
  --guidance W         text guidance weight, 1 = off (default: the model's)
  --image-guidance W   image guidance weight, 1 = off (default: the model's)
  --temperature T      temperature on the token distribution (default: the model's)
  --top-k K            keep the K most likely tokens, 0 = off (default: the model's)
  --seed S             integer in [0, 2^32) (default 0)
  --model DIR          model directory with config.json and the ONNX file (default ${DEFAULT_MODEL})
  --out DIR            writes DIR/result.json, DIR/timings.json, DIR/final.ckpt, DIR/image-<k>.png
  --json               print result.json to stdout instead of live progress
  --threads N          model worker threads (default 1)
  --provider cpu|cuda  ONNX Runtime execution provider (default: config.json execution_provider, else cpu)
  -h, --help           print this help and exit (also: oneflow help)
`;

/** Bad command-line input: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  cwd: string;
}

interface GenerateArgs {
  prompt: string;
  images: string[];
  model: string;
  out: string;
  seed: number;
  json: boolean;
  threads: number;
  provider?: ExecutionProvider;
  overrides: Partial<SamplerParams>;
}

function num(name: string, raw: string | undefined, check: (x: number) => boolean, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !check(x)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  return x;
}

/** The options of `generate` (one table: the parser and the help check read it). */
const GENERATE_OPTIONS = {
  prompt: { type: 'string' },
  image: { type: 'string', multiple: true },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  'image-guidance': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  seed: { type: 'string' },
  model: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  threads: { type: 'string' },
  provider: { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/**
 * Whether `generate`'s arguments ask for help (`--help`, `-h`): option values are skipped, so
 * `--prompt -h` is a prompt, not a request for help.
 */
export function wantsHelp(argv: readonly string[]): boolean {
  const { tokens } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: { ...GENERATE_OPTIONS, help: { type: 'boolean', short: 'h' } },
  });
  return tokens.some((t) => t.kind === 'option' && t.name === 'help');
}

export function parseGenerateArgs(argv: string[], cwd: string): GenerateArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: GENERATE_OPTIONS,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.prompt === undefined || values.prompt.trim() === '') throw new UsageError('--prompt is required (non-empty text)');
  if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
  const int = (x: number) => Number.isInteger(x);
  const overrides: { -readonly [K in keyof SamplerParams]?: SamplerParams[K] } = {};
  const steps = num('steps', values.steps, (x) => int(x) && x >= 1 && x <= 10_000, 'an integer in [1, 10000]');
  const guidance = num('guidance', values.guidance, (x) => Number.isFinite(x) && x >= -10 && x <= 50, 'a number in [-10, 50]');
  const imageGuidance = num(
    'image-guidance',
    values['image-guidance'],
    (x) => Number.isFinite(x) && x >= -10 && x <= 50,
    'a number in [-10, 50]',
  );
  const temperature = num('temperature', values.temperature, (x) => Number.isFinite(x) && x > 0 && x <= 100, 'a number in (0, 100]');
  const topK = num('top-k', values['top-k'], (x) => int(x) && x >= 0, 'an integer ≥ 0');
  if (steps !== undefined) overrides.steps = steps;
  if (guidance !== undefined) overrides.guidance = guidance;
  if (imageGuidance !== undefined) overrides.imageGuidance = imageGuidance;
  if (temperature !== undefined) overrides.temperature = temperature;
  if (topK !== undefined) overrides.topK = topK;
  const seed = num('seed', values.seed, (x) => int(x) && x >= 0 && x <= 0xffff_ffff, 'an integer in [0, 4294967295]') ?? 0;
  const threads = num('threads', values.threads, (x) => int(x) && x >= 1 && x <= 64, 'an integer in [1, 64]') ?? 1;
  let model = values.model ?? DEFAULT_MODEL;
  if (values.model === undefined && !existsSync(resolve(cwd, model)) && existsSync(join(REPO, model))) model = join(REPO, model);
  const images = (values.image ?? []).map((f) => resolve(cwd, f));
  for (const f of images) if (!existsSync(f)) throw new UsageError(`--image ${f}: no such file`);
  const provider = values.provider;
  if (provider !== undefined && provider !== 'cpu' && provider !== 'cuda')
    throw new UsageError(`--provider must be cpu or cuda, got ${JSON.stringify(provider)}`);
  return {
    prompt: values.prompt,
    images,
    model: resolve(cwd, model),
    out: resolve(cwd, values.out),
    seed,
    json: values.json ?? false,
    threads,
    ...(provider !== undefined ? { provider } : {}),
    overrides,
  };
}

/** What result.json holds: deterministic in the command line (no timings, no absolute paths). */
export interface GenerateResult {
  model: { name: string; sha256: string };
  prompt: string;
  inputImages: number;
  seed: number;
  params: SamplerParams;
  steps: number;
  /** Generated text; each `<image>` is the next entry of `images`. */
  text: string;
  images: string[];
  tokens: number[];
  checkpoint: string;
}

async function describe(a: GenerateArgs): Promise<ModelInfo> {
  try {
    return await describeModelDir(a.model);
  } catch (e) {
    throw new UsageError(`--model ${a.model}: ${(e as Error).message}`);
  }
}

/** The initial state; input images go through the model's encoder (the runner), so it is started first. */
async function prepare(a: GenerateArgs, model: ModelInfo, runner: ModelRunner): Promise<SamplerState> {
  const params = { ...model.defaults, ...a.overrides };
  try {
    validateParams(params);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const images: Float32Array[] = [];
  for (const f of a.images) {
    try {
      images.push(...(await runner.latentsOfPngs([await readFile(f)])));
    } catch (e) {
      throw new UsageError(`--image ${f}: ${(e as Error).message.replace(/^images\.0: /, '')}`);
    }
  }
  try {
    const items = model.tokenizer.prompt(a.prompt, images);
    if (items.length + 2 >= params.maxLen)
      throw new UsageError(`prompt has ${items.length} tokens; the model's cap is ${params.maxLen} including <bos>, <sep> and the answer`);
    if (images.length > params.maxImages)
      throw new UsageError(`${images.length} input images; the model takes at most ${params.maxImages}`);
    return initState(items, params, model.spec, a.seed);
  } catch (e) {
    if (e instanceof TokenizeError) throw new UsageError(`--prompt: ${e.message}`);
    throw e;
  }
}

const RAMP = ' .:-=+*#%@';

/** A small text preview of a latent's first channel [H, W]: `rows` lines of `cols` characters. */
function thumbnail(latent: Float32Array, h: number, w: number, cols = 14, rows = 7): string[] {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = '';
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      let n = 0;
      for (let y = Math.floor((r * h) / rows); y < Math.floor(((r + 1) * h) / rows); y++)
        for (let x = Math.floor((c * w) / cols); x < Math.floor(((c + 1) * w) / cols); x++, n++) sum += latent[y * w + x]!;
      const v = Math.min(1, Math.max(0, (sum / Math.max(1, n) + 1) / 2));
      line += RAMP[Math.min(RAMP.length - 1, Math.floor(v * RAMP.length))];
    }
    out.push(line);
  }
  return out;
}

function remainingSteps(s: SamplerState): number {
  const n = s.params.steps;
  return Math.max(Math.ceil((1 - s.tText) * n - 1e-9), ...s.images.map((im) => Math.ceil((1 - im.t) * n - 1e-9)), 0);
}

/** Live terminal view: step / ETA, the text growing, images appearing and denoising. */
class Progress {
  private lines = 0;
  constructor(
    private readonly out: CliIo['stdout'],
    private readonly tok: Tokenizer,
  ) {}
  draw(s: SamplerState, elapsedMs: number): void {
    const left = remainingSteps(s);
    const eta = s.step > 0 ? ((elapsedMs / s.step) * left) / 1000 : 0;
    const gen = generated(s);
    const lines = [
      `step ${s.step}  t_text ${s.tText.toFixed(2)}  ${left} steps left  ETA ${eta.toFixed(1)} s`,
      `> ${this.tok.decode(gen.tokens)}`,
    ];
    const [, h, w] = s.spec.latentShape;
    if (gen.images.length > 0) {
      const thumbs = gen.images.map((im) => thumbnail(im.latent, h, w));
      lines.push(gen.images.map((im, k) => `img ${k} t=${im.t.toFixed(2)}`.padEnd(16)).join(''));
      for (let r = 0; r < 7; r++) lines.push(thumbs.map((t) => `${t[r]}  `).join(''));
    }
    const clear = this.lines > 0 ? `\x1b[${this.lines}A\x1b[J` : '';
    this.out.write(clear + lines.join('\n') + '\n');
    this.lines = lines.length;
  }
}

export async function generateCommand(argv: string[], io: CliIo): Promise<number> {
  const a = parseGenerateArgs(argv, io.cwd);
  const model = await describe(a);
  const tok = model.tokenizer;
  const runner = await ModelRunner.start(model, {
    threads: a.threads,
    ...(a.provider !== undefined ? { executionProvider: a.provider } : {}),
  });
  try {
    const init = await prepare(a, model, runner);
    const live = !a.json && io.stdout.isTTY === true;
    const progress = new Progress(io.stdout, tok);
    const t0 = performance.now();
    if (live) progress.draw(init, 0);
    const { state, timings } = await runGeneration(runner, init, live ? { onStep: (s) => progress.draw(s, performance.now() - t0) } : {});
    await mkdir(a.out, { recursive: true });
    const gen = generated(state);
    const files = gen.images.map((_, k) => `image-${k}.png`);
    const pngs = await runner.pngsOfLatents(gen.images.map((im) => im.latent));
    for (const [k, png] of pngs.entries()) await writeFile(join(a.out, files[k]!), png);
    const ckpt = encodeCheckpoint({ state, parent: null });
    await writeFile(join(a.out, 'final.ckpt'), ckpt.bytes);
    const result: GenerateResult = {
      model: { name: model.spec.name, sha256: model.spec.sha256 },
      prompt: a.prompt,
      inputImages: promptImageCount(state),
      seed: a.seed,
      params: state.params,
      steps: state.step,
      text: tok.decode(gen.tokens),
      images: files,
      tokens: [...state.tokens],
      checkpoint: ckpt.id,
    };
    const json = JSON.stringify(result, null, 2) + '\n';
    await writeFile(join(a.out, 'result.json'), json);
    const perStep = timings.steps > 0 ? timings.totalMs / timings.steps : 0;
    await writeFile(
      join(a.out, 'timings.json'),
      JSON.stringify(
        {
          ...timings,
          perStepMs: perStep,
          hostShare: timings.hostMs / Math.max(1e-9, timings.modelMs),
          runner: runner.stats,
          threads: a.threads,
        },
        null,
        2,
      ) + '\n',
    );
    if (a.json) io.stdout.write(json);
    else
      io.stdout.write(
        `${result.text}\n${files.length} image(s), ${state.step} steps, ${(timings.totalMs / 1000).toFixed(2)} s → ${a.out}\n`,
      );
    return 0;
  } finally {
    await runner.close();
  }
}

/** `oneflow <command> …`; returns the exit code (2 for bad arguments, 1 for failures). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'generate' && !wantsHelp(rest)) return await generateCommand(rest, io);
    // Asked-for help is output (stdout, exit 0); a missing command is a usage error (stderr, exit 2).
    const helpTopic = rest.length <= 1 && (rest[0] ?? 'generate') === 'generate';
    if (cmd === 'generate' || cmd === '--help' || cmd === '-h' || (cmd === 'help' && helpTopic)) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (cmd === undefined) throw new UsageError('a command is required');
    if (cmd === 'help') throw new UsageError(`no help for ${JSON.stringify(rest.join(' '))}; the command is generate`);
    throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`oneflow: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`oneflow: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
