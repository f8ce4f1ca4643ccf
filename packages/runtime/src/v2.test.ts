import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RecordedDraws, guidanceRows, initState, isDone, step, stepOutputsOf, stateFromSpec } from '@oneflow/sampler';
import {
  type GoldenArray,
  type GoldenFile,
  f32,
  f64,
  loadGoldenFile,
  paramsOf,
  plain,
  plainGolden,
  replayStepCase,
  stateOf,
  tensor,
} from '@oneflow/sampler/testing';
import { describeModelDir } from './formats.js';
import { OUTPUT_NAMES, toGraphInputs, type pack } from './oneflow-io.js';
import { loadOnnxModel } from './onnx/direct.js';
import { ImageReader, ModelRunner } from './runner.js';
import { pngToPixels } from './images.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const dirs = { fp32: fixtures + 'tiny-v2', fp16: fixtures + 'tiny-v2-fp16' } as const;

interface V2Golden extends GoldenFile {
  text: { prompts: { text: string; ids: number[] }[]; decodes: { ids: number[]; text: string }[] };
  codec: {
    tolerance: number;
    encoder: { pixels: GoldenArray; latent: GoldenArray };
    decoder: { latent: GoldenArray; pixels: GoldenArray };
  };
  run: GoldenFile['run'] & { prompt: string; prompt_ids: number[]; final_text: string; latent_tolerance: number };
}
const golden = (dir: string) => loadGoldenFile<V2Golden>(join(dir, 'golden.json'));

/** A copy of a fixture directory with config.json changed by `edit` (and files changed by `files`). */
async function variant(
  edit: (c: Record<string, unknown>) => void,
  files: (dir: string) => Promise<void> = async () => undefined,
  from: string = dirs.fp32,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'v2-'));
  for (const f of await readdir(from)) await copyFile(join(from, f), join(dir, f));
  const c = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit(c);
  await writeFile(join(dir, 'config.json'), JSON.stringify(c));
  await files(dir);
  return dir;
}

describe('contract v2: a model directory validated at load', () => {
  it('describes the tiny v2 model: subword tokenizer, RGB images, 4×4×4 latents, encoder and decoder', async () => {
    const m = await describeModelDir(dirs.fp32);
    expect(m.format).toBe('oneflow-v2');
    expect(m.imageShape).toEqual([3, 16, 16]);
    expect(m.latentShape).toEqual([4, 4, 4]);
    expect(m.spec).toMatchObject({ name: 'tiny-v2', vocabSize: 320, bos: 1, sep: 2, image: 3, neverInsert: [0, 1, 2] });
    expect(m.spec.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.spec.sha256).not.toBe(m.config['onnx_sha256']); // the identity covers the tokenizer too
    expect(m.vocabulary).toBeNull();
    expect(m.graphs.encoder?.path).toBe(join(dirs.fp32, 'encoder.onnx'));
    expect((await describeModelDir(dirs.fp16)).dtype).toBe('float16');
  });

  it('names the file and the field of what is wrong', async () => {
    const cases: [string, (c: Record<string, unknown>) => void, RegExp, ((dir: string) => Promise<void>)?][] = [
      [
        'missing tokenizer',
        () => undefined,
        /tokenizer.json \(config.json tokenizer.file\): missing/,
        (d) =>
          writeFile(join(d, 'gone'), '')
            .then(() => import('node:fs/promises'))
            .then((fs) => fs.rm(join(d, 'tokenizer.json'))),
      ],
      [
        'tokenizer hash',
        (c) => (c['tokenizer'] = { file: 'tokenizer.json', sha256: '0'.repeat(64) }),
        /tokenizer.json: SHA-256 [0-9a-f]{64} does not match config.json tokenizer.sha256 0{64}/,
      ],
      [
        'special token the tokenizer lacks',
        (c) => (c['special_tokens'] = { pad: '<pad>', bos: '<bos>', sep: '<sep>', image: '<img>' }),
        /special_tokens.image "<img>" is not an added token of the tokenizer/,
      ],
      ['vocab size', (c) => (c['vocab_size'] = 321), /vocab_size 321 .* is not the size of .*tokenizer.json \(320 tokens/],
      ['never_insert name', (c) => (c['never_insert'] = ['<pad>', '<nope>']), /never_insert.*"<nope>" is not a token/],
      ['encoder without decoder', (c) => delete c['decoder'], /config.json[\s\S]*encoder and decoder come together[\s\S]*at decoder/],
      ['shapes without an autoencoder', (c) => (delete c['decoder'], delete c['encoder']), /must equal image_shape[\s\S]*at latent_shape/],
      [
        'missing graph',
        (c) => (c['decoder'] = { file: 'nope.onnx', sha256: '0'.repeat(64) }),
        /nope.onnx \(config.json decoder\) does not exist/,
      ],
      ['a path outside the directory', (c) => (c['onnx_file'] = '../model.onnx'), /onnx_file/],
    ];
    for (const [what, edit, message, files] of cases) {
      await expect(describeModelDir(await variant(edit, files)), what).rejects.toThrow(message);
    }
  });

  it('refuses to start sessions whose files or graphs disagree with the config', async () => {
    const badHash = await variant((c) => (c['onnx_sha256'] = 'f'.repeat(64)));
    await expect(ModelRunner.start(await describeModelDir(badHash))).rejects.toThrow(
      /model.onnx: SHA-256 [0-9a-f]{64} does not match config.json onnx_sha256 f{64}/,
    );
    // a latent shape the graph was not built for (the autoencoder pair agrees with it, the main graph does not)
    const shape = await variant((c) => (c['latent_shape'] = [4, 2, 8]));
    await expect(ModelRunner.start(await describeModelDir(shape))).rejects.toThrow(
      /model.onnx does not match config.json: input images: shape \[.*4, 4, 4\], expected \[\?, \?, 4, 2, 8\]/,
    );
    // weights in an external-data file (the layout of models over 2 GB): hash-checked like the graph
    const fp16 = await describeModelDir(dirs.fp16);
    expect(fp16.graphs.model.files.map((f) => f.field)).toEqual(['onnx_sha256', 'onnx_external_data.0.sha256']);
    const tampered = await variant(
      () => undefined,
      async (d) => {
        const data = await readFile(join(d, 'model.onnx.data'));
        data[100] = data[100]! ^ 1;
        await writeFile(join(d, 'model.onnx.data'), data);
      },
      dirs.fp16,
    );
    await expect(ModelRunner.start(await describeModelDir(tampered))).rejects.toThrow(
      /model.onnx.data: SHA-256 [0-9a-f]{64} does not match config.json onnx_external_data.0.sha256/,
    );
    const missing = await variant(
      () => undefined,
      async (d) => (await import('node:fs/promises')).rm(join(d, 'model.onnx.data')),
      dirs.fp16,
    );
    await expect(describeModelDir(missing)).rejects.toThrow(/model.onnx.data \(config.json onnx_external_data.0.sha256\) does not exist/);
    const dtype = await variant((c) => (c['dtype'] = 'float16'));
    await expect(ModelRunner.start(await describeModelDir(dtype))).rejects.toThrow(/element type float32, expected float16/);
  });
});

describe('contract v2: the tokenizer agrees with the Python tokenizers library', () => {
  it('encodes free text (capitals, punctuation, unseen words, <image>) to the same ids and decodes them the same', async () => {
    const { tokenizer } = await describeModelDir(dirs.fp32);
    const g = golden(dirs.fp32);
    expect(g.text.prompts.length).toBeGreaterThan(3);
    for (const p of g.text.prompts) expect(tokenizer.encode(p.text), p.text).toEqual(p.ids);
    for (const d of g.text.decodes) expect(tokenizer.decode(d.ids)).toBe(d.text);
    const ids = g.text.prompts[1]!.ids;
    expect(tokenizer.pieces(ids).join('')).toBe(tokenizer.decode(ids));
    expect(tokenizer.decode(tokenizer.encode('a coat, a bag and a sneaker.'))).toBe('a coat, a bag and a sneaker.'); // no "a , b" spacing
    expect(tokenizer.decode([])).toBe(''); // a generation before its first insertion
    expect(tokenizer.pieces([])).toEqual([]);
  });

  const shipped = fileURLToPath(new URL('../../../models/oneflow-toy-v2/', import.meta.url));
  it.runIf(existsSync(join(shipped, 'golden.json')))(
    'the shipped oneflow-toy-v2 too: its lower-casing normaliser, free text and unseen words give the Python ids',
    async () => {
      const { tokenizer } = await describeModelDir(shipped);
      const g = golden(shipped);
      expect(g.text.prompts.length).toBeGreaterThan(3);
      for (const p of g.text.prompts) expect(tokenizer.encode(p.text), p.text).toEqual(p.ids);
      for (const d of g.text.decodes) expect(tokenizer.decode(d.ids)).toBe(d.text);
      expect(tokenizer.encode('Draw a RED seven')).toEqual(tokenizer.encode('draw a red seven'));
    },
  );
});

for (const [kind, dir] of Object.entries(dirs)) {
  describe(`contract v2 golden vectors (${kind})`, () => {
    const g = golden(dir);
    const tolerance = kind === 'fp16' ? 2e-3 : 1e-4;

    it(`forward: onnxruntime-node matches ONNX Runtime in Python within ${tolerance}`, async () => {
      const m = await describeModelDir(dir);
      const onnx = await loadOnnxModel(m.graphs.model.path);
      try {
        for (const f of g.forward) {
          const inputs = Object.fromEntries(Object.entries(f.inputs).map(([k, a]) => [k, tensor(a)])) as ReturnType<typeof pack>;
          const out = await onnx.run(toGraphInputs(inputs, m.dtype));
          for (const name of OUTPUT_NAMES) {
            const want = f32(f.outputs[name]!);
            const got = out[name]!;
            expect(got.dims).toEqual(f.outputs[name]!.shape);
            let d = 0;
            want.forEach((x, i) => (d = Math.max(d, Math.abs(x - got.data[i]!) / Math.max(1, Math.abs(x)))));
            expect(d, name).toBeLessThan(tolerance);
          }
        }
      } finally {
        await onnx.release();
      }
    });

    it('steps: the TypeScript step reproduces the reference exactly (latent size 64, not 784)', () => {
      const spec = { ...(g.model as unknown as { name: string }), ...specOfV2(g) };
      for (const c of g.steps) {
        const { after, used, recorded } = replayStepCase(c, spec);
        expect(plain(after), c.name).toEqual(plainGolden(c.after));
        expect(used, c.name).toEqual(recorded);
      }
    });

    it('a whole guided generation through the runner: prompt ids from the tokenizer, tokens exact, latents within tolerance', async () => {
      const m = await describeModelDir(dir);
      expect(m.tokenizer.encode(g.run.prompt)).toEqual(g.run.prompt_ids);
      const params = paramsOf(g.run.params);
      let s = stateOf(g.run.initial, m.spec, params);
      const draws = new RecordedDraws(f64(g.run.uniforms), f32(g.run.normals));
      const runner = await ModelRunner.start(m);
      try {
        while (!isDone(s)) s = step(s, stepOutputsOf(s, await runner.forward(guidanceRows(s))), params, draws);
      } finally {
        await runner.close();
      }
      const want = plainGolden(g.run.final);
      expect(s.tokens).toEqual(want.tokens);
      expect(draws.used).toEqual([g.run.uniforms.shape[0], g.run.normals.shape[0]]);
      expect(m.tokenizer.decode(s.tokens.slice(s.promptLen))).toBe(g.run.final_text);
      let maxDiff = 0;
      s.images.forEach((im, j) => im.latent.forEach((x, e) => (maxDiff = Math.max(maxDiff, Math.abs(x - want.images[j]!.latent[e]!)))));
      expect(maxDiff).toBeLessThan(g.run.latent_tolerance);
    });

    it('encoder and decoder: the runner matches the Python outputs; decoding goes through decoder.onnx', async () => {
      const m = await describeModelDir(dir);
      const runner = await ModelRunner.start(m);
      try {
        const n = (a: GoldenArray) => a.shape[0]!;
        const split = (a: GoldenArray) => {
          const x = f32(a);
          const k = x.length / n(a);
          return Array.from({ length: n(a) }, (_, i) => x.slice(i * k, (i + 1) * k));
        };
        const close = (got: Float32Array[], want: Float32Array[]) => {
          let d = 0;
          got.forEach((x, i) => x.forEach((v, e) => (d = Math.max(d, Math.abs(v - want[i]![e]!)))));
          return d;
        };
        const latents = await (runner as unknown as { backend: { encode(p: Float32Array[]): Promise<Float32Array[]> } }).backend.encode(
          split(g.codec.encoder.pixels),
        );
        expect(close(latents, split(g.codec.encoder.latent))).toBeLessThan(g.codec.tolerance);
        const pixels = await runner.pixelsOfLatents(split(g.codec.decoder.latent));
        const want = split(g.codec.decoder.pixels).map((p) => p.map((v) => Math.min(1, Math.max(-1, v))));
        expect(close(pixels, want)).toBeLessThan(g.codec.tolerance);
        // a PNG of the image shape, from the decoder's pixels
        const [png] = await runner.pngsOfLatents(split(g.codec.decoder.latent).slice(0, 1));
        const back = pngToPixels(png!, [3, 16, 16]);
        expect(close([back], [pixels[0]!])).toBeLessThanOrEqual(1 / 127.5 / 2 + 1e-6);
      } finally {
        await runner.close();
      }
    });
  });
}

function specOfV2(g: GoldenFile) {
  const m = g.model as unknown as {
    name: string;
    onnx_sha256: string;
    vocab_size: number;
    special_tokens: { bos: number; sep: number; image: number };
    never_insert: number[];
    latent_shape: [number, number, number];
  };
  return {
    name: m.name,
    sha256: m.onnx_sha256,
    vocabSize: m.vocab_size,
    bos: m.special_tokens.bos,
    sep: m.special_tokens.sep,
    image: m.special_tokens.image,
    neverInsert: m.never_insert,
    latentShape: m.latent_shape,
  };
}

describe('contract v2: images in and out', () => {
  it('input PNGs go through encoder.onnx into the prompt; a free-text prompt generates; outputs decode to RGB PNGs', async () => {
    const m = await describeModelDir(dirs.fp32);
    const runner = await ModelRunner.start(m);
    try {
      const { PNG } = await import('pngjs');
      const src = new PNG({ width: 16, height: 16 });
      for (let i = 0; i < 256; i++) src.data.set([200, 30, 30, 255], 4 * i);
      const [latent] = await runner.latentsOfPngs([PNG.sync.write(src)]);
      expect(latent).toHaveLength(64);
      const s0 = stateFromSpec({ prompt: 'What colour is this?', latents: [latent!], seed: 5 }, m);
      expect(s0.images).toHaveLength(1);
      let s = s0;
      while (!isDone(s)) s = step(s, await runner.stepOutputs(s));
      const gen = s.images.slice(1);
      const pngs = await runner.pngsOfLatents(gen.map((im) => im.latent));
      for (const p of pngs) expect(PNG.sync.read(p)).toMatchObject({ width: 16, height: 16 });
      await expect(runner.latentsOfPngs([new Uint8Array([1, 2, 3])])).rejects.toThrow(/images.0: not a readable PNG/);
    } finally {
      await runner.close();
    }
  });

  it('ImageReader starts only the decoder, on first read, and caches by key', async () => {
    const m = await describeModelDir(dirs.fp32);
    const reader = new ImageReader();
    try {
      const latent = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
      const a = await reader.png(m, 'ckpt-a/0', latent);
      const b = await reader.png(m, 'ckpt-a/0', new Float32Array(64)); // same key: the cached image
      expect(b).toBe(a);
      const c = await reader.png(m, 'ckpt-b/0', new Float32Array(64));
      expect(c.equals(a)).toBe(false);
      const v1 = await describeModelDir(fileURLToPath(new URL('../../sampler/fixtures/tiny-model', import.meta.url)));
      const grey = await reader.png(v1, 'v1/0', new Float32Array(784)); // no decoder: pixels are the latents
      expect(grey.length).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
  });

  it('initState refuses latents of another shape', async () => {
    const m = await describeModelDir(dirs.fp32);
    expect(() => initState(m.tokenizer.prompt('what is this', [new Float32Array(784)]), m.defaults, m.spec, 0)).toThrow(
      /prompt image must have 64 values \[4, 4, 4\], got 784/,
    );
  });
});
