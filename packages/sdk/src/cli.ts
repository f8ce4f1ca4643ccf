import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  createClient,
  errorCode,
  FINAL_STATES,
  preferredModel,
  TRPCClientError,
  type CreateGenerationInput,
  type Generation,
  type ProgressEvent,
} from './index.js';

export const USAGE = `Usage: oneflow generate --api URL --prompt TEXT [--out DIR] [options]

Generates through the OneFlow API (the in-process generator is packages/runtime/bin/oneflow.js).

  --api URL            the API's base URL, e.g. http://127.0.0.1:3000 (default: $ONEFLOW_API_URL)
  --prompt TEXT        words from the model's vocabulary; <image> marks where an --image goes
  --image FILE.png     an input image (repeatable)
  --model NAME         a model the API serves (default: the one on the newest contract)
  --steps N            sampling steps per clock (default: the model's)
  --guidance W         text guidance weight, 1 = off (default: the model's)
  --image-guidance W   image guidance weight, 1 = off (default: the model's)
  --temperature T      temperature (default: the model's)
  --top-k K            keep the K most likely tokens, 0 = off (default: the model's)
  --seed S             integer in [0, 2^32) (default 0)
  --out DIR            writes DIR/result.json and DIR/image-<k>.png (default out)
  --json               print result.json to stdout instead of progress
  -h, --help           print this help and exit (also: oneflow help)

The API key comes from $ONEFLOW_API_KEY (not a flag: flags show up in process lists).
Exit codes: 0 succeeded, 1 the generation did not succeed, 2 bad input, 3 API unreachable.
`;

/** Bad command-line input (or input the API refused): printed with a hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  cwd: string;
  env: Record<string, string | undefined>;
}

/** What DIR/result.json holds. */
export interface ApiGenerateResult {
  id: string;
  state: Generation['state'];
  model: string | null;
  text: string;
  step: number;
  checkpointId: string | null;
  error: string | null;
  images: string[];
}

function num(name: string, raw: string | undefined, ok: (x: number) => boolean, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !ok(x)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  return x;
}

/** The options of `generate` (one table: the parser and the help check read it). */
const GENERATE_OPTIONS = {
  api: { type: 'string' },
  prompt: { type: 'string' },
  image: { type: 'string', multiple: true },
  model: { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  'image-guidance': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
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

interface Args {
  api: string;
  request: Omit<CreateGenerationInput, 'model'> & { model?: string };
  out: string;
  json: boolean;
}

export async function parseGenerateArgs(argv: string[], io: CliIo): Promise<Args> {
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
  const api = values.api ?? io.env['ONEFLOW_API_URL'];
  if (!api) throw new UsageError('--api URL is required (or set ONEFLOW_API_URL)');
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new UsageError(`--api must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(api)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--api must be http(s), got ${JSON.stringify(api)}`);
  if (values.prompt === undefined || values.prompt.trim() === '') throw new UsageError('--prompt is required (non-empty text)');
  const int = Number.isInteger;
  const steps = num('steps', values.steps, (x) => int(x) && x >= 1 && x <= 1024, 'an integer in [1, 1024]');
  const guidance = num('guidance', values.guidance, (x) => Number.isFinite(x) && x >= 0 && x <= 20, 'a number in [0, 20]');
  const imageGuidance = num(
    'image-guidance',
    values['image-guidance'],
    (x) => Number.isFinite(x) && x >= 0 && x <= 20,
    'a number in [0, 20]',
  );
  const temperature = num('temperature', values.temperature, (x) => Number.isFinite(x) && x > 0 && x <= 10, 'a number in (0, 10]');
  const topK = num('top-k', values['top-k'], (x) => int(x) && x >= 0 && x <= 100_000, 'an integer in [0, 100000]');
  const seed = num('seed', values.seed, (x) => int(x) && x >= 0 && x <= 0xffff_ffff, 'an integer in [0, 4294967295]');
  const images: string[] = [];
  for (const f of values.image ?? []) {
    try {
      images.push((await readFile(path.resolve(io.cwd, f))).toString('base64'));
    } catch (e) {
      throw new UsageError(`--image ${f}: ${(e as Error).message}`);
    }
  }
  return {
    api: url.toString(),
    out: path.resolve(io.cwd, values.out ?? 'out'),
    json: values.json ?? false,
    request: {
      prompt: values.prompt,
      ...(values.model !== undefined ? { model: values.model } : {}),
      ...(images.length > 0 ? { images } : {}),
      ...(steps !== undefined ? { steps } : {}),
      ...(guidance !== undefined ? { guidance } : {}),
      ...(imageGuidance !== undefined ? { imageGuidance } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topK !== undefined ? { topK } : {}),
      ...(seed !== undefined ? { seed } : {}),
    },
  };
}

/** One progress line: `step 7/24  running  t_text 0.29  images [0.40]  two <image> three`. */
export function progressLine(e: ProgressEvent): string {
  const clocks = e.images.map((im) => im.clock.toFixed(2)).join(' ');
  return `step ${e.step}/${e.steps ?? '?'}  ${e.state}  t_text ${e.tText.toFixed(2)}  images [${clocks}]  ${e.text}`;
}

/** A network failure (API not listening, DNS, reset) rather than an answer from the API. */
function isUnreachable(error: unknown): boolean {
  if (!(error instanceof TRPCClientError) || errorCode(error) !== null) return false;
  let e: unknown = error;
  while (e instanceof Error) {
    if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|fetch failed/.test(`${e.message} ${(e as { code?: string }).code ?? ''}`))
      return true;
    e = e.cause;
  }
  return false;
}

async function generateCommand(argv: string[], io: CliIo): Promise<number> {
  const a = await parseGenerateArgs(argv, io);
  const apiKey = io.env['ONEFLOW_API_KEY'];
  const client = createClient({ baseUrl: a.api, ...(apiKey ? { apiKey } : {}) });
  const model = a.request.model ?? preferredModel(await client.models.list())?.name;
  if (!model) throw new UsageError(`the API at ${a.api} serves no model`);
  const created = await client.generations.create({ ...a.request, model });
  if (!a.json) io.stdout.write(`generation ${created.id} (${model}): ${created.state}\n`);
  let last: ProgressEvent | null = null;
  for await (const e of client.generations.watch(created.id)) {
    last = e;
    if (!a.json) io.stdout.write(`${progressLine(e)}\n`);
  }
  // The stream ends after a final state; `get` has the images' URLs.
  let done = await client.generations.get(created.id);
  if (!FINAL_STATES.includes(done.state)) done = await client.generations.wait(created.id);
  await mkdir(a.out, { recursive: true });
  const images: string[] = [];
  for (const image of done.images) {
    const file = `image-${image.index}.png`;
    await writeFile(path.join(a.out, file), await client.generations.fetchImage(image.url));
    images.push(file);
  }
  const result: ApiGenerateResult = {
    id: done.id,
    state: done.state,
    model: done.model,
    text: done.text,
    step: done.step,
    checkpointId: done.checkpointId,
    error: done.error,
    images,
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(path.join(a.out, 'result.json'), json);
  if (a.json) io.stdout.write(json);
  else io.stdout.write(`${done.state}: ${done.text}\n${images.length} image(s), ${done.step} steps → ${a.out}\n`);
  if (done.state !== 'succeeded')
    io.stderr.write(
      `oneflow: generation ${done.id} ${done.state}${done.error ? `: ${done.error}` : ''} (after step ${last?.step ?? done.step})\n`,
    );
  return done.state === 'succeeded' ? 0 : 1;
}

/** `oneflow generate --api URL …`; resolves with the exit code. */
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
    if (isUnreachable(e)) {
      io.stderr.write(`oneflow: cannot reach the API (${(e as Error).message}); is it running? (infra/dev/up starts one)\n`);
      return 3;
    }
    const code = errorCode(e);
    if (code === 'BAD_REQUEST' || code === 'UNAUTHORIZED' || code === 'NOT_FOUND' || code === 'PAYLOAD_TOO_LARGE') {
      io.stderr.write(
        `oneflow: the API refused the request (${code}): ${(e as Error).message}${code === 'UNAUTHORIZED' ? ' — set ONEFLOW_API_KEY' : ''}\n`,
      );
      return 2;
    }
    io.stderr.write(`oneflow: ${code ? `${code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
