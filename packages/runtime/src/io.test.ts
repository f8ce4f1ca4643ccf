import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fixturesDir } from '@oneflow/sampler/testing';
import { oneflowV1 } from './backends/oneflow-v1.js';
import { describeModelDir } from './formats.js';
import { pixelsToPng, pngToPixels } from './images.js';
import { TokenizeError } from './tokenizers/tokenizer.js';

const dir = fixturesDir + 'tiny-model';

const good = JSON.parse(readFileSync(dir + '/config.json', 'utf8')) as Record<string, unknown> & {
  special_tokens: Record<string, number>;
  sampler_defaults: Record<string, unknown>;
};

describe('model directory, contract version 1', () => {
  it('loads config.json into a spec, sampler defaults and the graph to run', async () => {
    const m = await describeModelDir(dir);
    expect(m.format).toBe('oneflow-v1');
    expect(m.spec).toMatchObject({ name: 'tiny-model', bos: 1, sep: 2, image: 3, neverInsert: [0, 1, 2], latentShape: [1, 28, 28] });
    expect(m.spec.vocabSize).toBe((good['vocab'] as string[]).length);
    expect(m.imageShape).toEqual(m.latentShape);
    expect(m.defaults).toEqual({ steps: 32, guidance: 1, imageGuidance: 2, temperature: 0.3, topK: 0, maxLen: 40, maxImages: 6 });
    expect(m.graphs.model.path).toBe(dir + '/model.onnx');
    expect(m.graphs.encoder).toBeUndefined();
  });

  it('names the bad field of an invalid config', async () => {
    await expect(oneflowV1.describe('/m', { ...good, latent_shape: [1, 28] })).rejects.toThrow(/\/m\/config.json[\s\S]*latent_shape/);
    await expect(oneflowV1.describe(dir, { ...good, special_tokens: { ...good.special_tokens, image: 9999 } })).rejects.toThrow(/9999/);
    await expect(oneflowV1.describe(dir, { ...good, onnx_file: 'nope.onnx' })).rejects.toThrow(
      /nope.onnx \(config.json onnx\) does not exist/,
    );
    await expect(describeModelDir('/nonexistent')).rejects.toThrow(/\/nonexistent\/config.json/);
    await expect(oneflowV1.describe(dir, { ...good, onnx_file: '../x.onnx' })).rejects.toThrow(/onnx_file/);
  });

  it('refuses a contract version it does not read, naming the ones it does', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const tmp = await mkdtemp((await import('node:os')).tmpdir() + '/m-');
    await writeFile(tmp + '/config.json', JSON.stringify({ ...good, contract_version: 7 }));
    await expect(describeModelDir(tmp)).rejects.toThrow(/contract_version 7 is not one this runtime reads \(1, 2\)/);
  });

  it('reads configs written before image guidance: imageGuidance 1 (off)', async () => {
    const old: Record<string, unknown> = { ...good.sampler_defaults };
    delete old['w_image'];
    expect((await oneflowV1.describe(dir, { ...good, sampler_defaults: old })).defaults).toMatchObject({ guidance: 1, imageGuidance: 1 });
  });
});

describe('tokenizer', () => {
  it('encodes words, splits punctuation off, and decodes back', async () => {
    const t = (await describeModelDir(dir)).tokenizer;
    const ids = t.encode('What is this?');
    expect(t.decode(ids)).toBe('what is this ?');
    expect(t.decode(t.encode('count from two to five , please'))).toBe('count from two to five , please');
    expect(t.encode('t-shirt')).toHaveLength(1);
    expect(() => t.encode('draw a unicorn')).toThrow(TokenizeError);
    expect(() => t.encode('draw a unicorn')).toThrow(/"unicorn"/);
  });

  it('places input images at <image> marks, extra images in front', async () => {
    const t = (await describeModelDir(dir)).tokenizer;
    const a = new Float32Array(784);
    const b = new Float32Array(784).fill(1);
    const p = t.prompt('what is this ?', [a]);
    expect(p[0]).toBe(a);
    expect(p.slice(1)).toEqual(t.encode('what is this ?'));
    const q = t.prompt('<image> plus <image>', [a, b]);
    expect(q).toEqual([a, t.encode('plus')[0], b]);
    expect(() => t.prompt('<image> and <image>', [a])).toThrow(/2 <image> placeholders but 1 images/);
  });
});

describe('PNG', () => {
  it('round-trips a latent through an 8-bit grayscale PNG within quantisation', () => {
    const lat = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i) * 1.2);
    const png = pixelsToPng(lat, [1, 28, 28]);
    const meta = PNG.sync.read(png);
    expect([meta.width, meta.height]).toEqual([28, 28]);
    const back = pngToPixels(png, [1, 28, 28]);
    back.forEach((x, i) => expect(Math.abs(x - Math.max(-1, Math.min(1, lat[i]!)))).toBeLessThanOrEqual(1 / 127.5 / 2 + 1e-6));
    expect(pixelsToPng(lat, [1, 28, 28]).equals(png)).toBe(true); // deterministic bytes
  });

  it('reads colour PNGs of other sizes (luma, area resize)', () => {
    const src = new PNG({ width: 56, height: 56 });
    for (let i = 0; i < 56 * 56; i++) src.data.set([255, 255, 255, i % 56 < 28 ? 255 : 0], 4 * i);
    const lat = pngToPixels(PNG.sync.write(src), [1, 28, 28]);
    expect(lat[0]).toBeCloseTo(1, 5); // left half white
    expect(lat[27]).toBeCloseTo(-1, 5); // right half transparent → black
    expect(() => pngToPixels(new Uint8Array([1, 2, 3]), [1, 28, 28])).toThrow(/not a readable PNG \(3 bytes\)/);
  });
});

describe('RGB images', () => {
  it('round-trips RGB pixels [3, H, W] through an 8-bit RGB PNG, planes kept apart', () => {
    const px = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => (i < 256 ? 1 : i < 512 ? -1 : Math.cos(i)));
    const png = pixelsToPng(px, [3, 16, 16]);
    const meta = PNG.sync.read(png);
    expect([meta.width, meta.height]).toEqual([16, 16]);
    expect([meta.data[0], meta.data[1]]).toEqual([255, 0]); // red plane 1, green plane −1
    const back = pngToPixels(png, [3, 16, 16]);
    back.forEach((x, i) => expect(Math.abs(x - px[i]!)).toBeLessThanOrEqual(1 / 127.5 / 2 + 1e-6));
  });

  it('refuses shapes that are neither grey nor RGB', () => {
    expect(() => pixelsToPng(new Float32Array(4 * 4), [4, 2, 2])).toThrow(/1 \(grey\) or 3 \(RGB\) channels, got C=4/);
  });
});
