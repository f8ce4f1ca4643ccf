import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { REPO_ROOT } from '@oneflow/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Generation } from './index.js';
import { MODEL_DIR, MODEL_V2_DIR, startStack, startWorker, type Stack } from './testing/stack.js';

// Two model formats served side by side by one worker and one API: the word-level, pixel-space
// contract-v1 tiny model and the contract-v2 tiny model (BPE tokenizer.json, RGB 3×16×16 images,
// 4×4×4 latents through encoder.onnx / decoder.onnx).
const execFileAsync = promisify(execFile);
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    address: inject('temporalAddress'),
    namespace: 'test-models',
    worker: true,
    models: [MODEL_DIR, MODEL_V2_DIR],
  });
});
afterAll(async () => {
  await stack?.close();
});

async function finished(id: string): Promise<Generation> {
  for await (const e of stack.acme.generations.watch(id)) if (e.state !== 'queued' && e.state !== 'running') break;
  return stack.acme.generations.get(id);
}

function redPng(): Buffer {
  const png = new PNG({ width: 16, height: 16 });
  for (let i = 0; i < 256; i++) png.data.set([220, 20, 20, 255], 4 * i);
  return PNG.sync.write(png);
}

describe('contract v1 and v2 side by side (API → Temporal → one worker)', () => {
  it('models.list shows both, with their formats, shapes and tokenizers', async () => {
    const models = await stack.acme.models.list();
    expect(models.map((m) => m.name)).toEqual(['tiny-model', 'tiny-v2']);
    const [v1, v2] = models;
    expect(v1).toMatchObject({ format: 'oneflow-v1', imageShape: [1, 28, 28], latentShape: [1, 28, 28], tokenizer: 'word' });
    expect(v1!.vocabulary).toContain('seven');
    expect(v2).toMatchObject({
      format: 'oneflow-v2',
      imageShape: [3, 16, 16],
      latentShape: [4, 4, 4],
      tokenizer: 'subword',
      vocabulary: null,
    });
  });

  it('generates with both at once; the v2 one takes free text and an RGB image, and its PNGs come through decoder.onnx byte-identical to the in-process CLI', async () => {
    const image = redPng();
    const v2req = {
      model: 'tiny-v2',
      prompt: 'What colour is this? Answer, please!',
      images: [image.toString('base64')],
      seed: 21,
      steps: 8,
    };
    const [a, b] = await Promise.all([
      stack.acme.generations.create({ model: 'tiny-model', prompt: 'count from two to five', seed: 3, steps: 12 }),
      stack.acme.generations.create(v2req),
    ]);
    const [g1, g2] = await Promise.all([finished(a.id), finished(b.id)]);
    expect(g1.state).toBe('succeeded');
    expect(g2.state).toBe('succeeded');
    expect(g2.model).toBe('tiny-v2');

    // the same generation in process, through the runtime's CLI
    const out = mkdtempSync(path.join(tmpdir(), 'v2-cli-'));
    const input = path.join(out, 'in.png');
    await (await import('node:fs/promises')).writeFile(input, image);
    await execFileAsync(
      process.execPath,
      [
        'packages/runtime/bin/oneflow.js',
        'generate',
        '--model',
        MODEL_V2_DIR,
        '--prompt',
        v2req.prompt,
        '--image',
        input,
        '--seed',
        '21',
        '--steps',
        '8',
        '--out',
        out,
        '--json',
      ],
      { cwd: REPO_ROOT },
    );
    const cli = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as { text: string; images: string[] };
    expect(g2.text).toBe(cli.text);
    expect(g2.images.length).toBe(cli.images.length);
    expect(g2.images.length, 'the comparison needs images').toBeGreaterThan(0);
    const dir = mkdtempSync(path.join(tmpdir(), 'v2-sdk-'));
    const saved = await stack.acme.generations.saveImages(g2, dir);
    for (const [k, file] of saved.entries()) {
      const bytes = await readFile(file);
      expect(PNG.sync.read(bytes)).toMatchObject({ width: 16, height: 16 });
      expect(bytes.equals(await readFile(path.join(out, cli.images[k]!))), `image ${k}`).toBe(true);
    }
  }, 300_000);

  it('refuses what a model cannot take, naming the cause, before starting anything', async () => {
    const wordOutside = stack.acme.generations.create({ model: 'tiny-model', prompt: 'draw a giraffe' });
    await expect(wordOutside).rejects.toThrow(/"giraffe" is not in the model's vocabulary/);
    const notPng = stack.acme.generations.create({
      model: 'tiny-v2',
      prompt: 'what is this?',
      images: [Buffer.from('GIF89a').toString('base64')],
    });
    await expect(notPng).rejects.toThrow(/images.0: not a readable PNG/);
  });
});

describe('a worker with a bad model directory', () => {
  it('refuses to start and says which directory and why (it never serves half its models)', async () => {
    const bad = mkdtempSync(path.join(tmpdir(), 'bad-model-'));
    await (
      await import('node:fs/promises')
    ).writeFile(
      path.join(bad, 'config.json'),
      JSON.stringify({
        ...JSON.parse(readFileSync(path.join(MODEL_V2_DIR, 'config.json'), 'utf8')),
        tokenizer: { file: 'missing.json', sha256: '0'.repeat(64) },
      }),
    );
    await expect(
      startWorker(inject('temporalAddress'), 'test-models', stack.dataDir, { ONEFLOW_MODELS: `${MODEL_DIR},${bad}` }),
    ).rejects.toThrow(
      new RegExp(`worker exited \\(1\\)[\\s\\S]*model directory ${bad}: .*missing.json \\(config.json tokenizer.file\\): missing`),
    );
  }, 60_000);
});
