import { PNG } from 'pngjs';

/**
 * PNG ↔ pixel tensors. Pixels are float32 `[C, H, W]` row-major with `x ∈ [-1, 1]` for the level
 * `(x + 1) / 2` (training/data.py `to_latent`: `x = u8 / 127.5 − 1`); C = 1 is grey, C = 3 is RGB.
 * For version-1 models the pixels are the latents.
 */

/** Refused image input; the message says what was wrong with it. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
}

function checkShape(shape: readonly [number, number, number]): void {
  const [c] = shape;
  if (c !== 1 && c !== 3) throw new ImageError(`images must have 1 (grey) or 3 (RGB) channels, got C=${c}`);
}

/** Pixels `[C, H, W]` → 8-bit grey (C = 1) or RGB (C = 3) PNG bytes (deterministic). Values outside [-1, 1] are clipped. */
export function pixelsToPng(pixels: Float32Array, shape: readonly [number, number, number]): Buffer {
  checkShape(shape);
  const [c, h, w] = shape;
  if (pixels.length !== c * h * w)
    throw new ImageError(`expected pixels [${c}, ${h}, ${w}] with ${c * h * w} values, got ${pixels.length}`);
  const png = new PNG({ width: w, height: h });
  const level = (x: number) => (Number.isNaN(x) ? 0 : Math.round(Math.min(1, Math.max(-1, x)) * 127.5 + 127.5));
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) png.data[4 * i + k] = level(pixels[(c === 1 ? 0 : k) * h * w + i]!);
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: c === 1 ? 0 : 2, bitDepth: 8 });
}

/**
 * PNG bytes → pixels `[C, H, W]` (float32). For C = 1 colour is converted to luma (BT.601); alpha
 * is composited on black (the toy worlds' background); any other size is resized to `H × W` by
 * area averaging.
 */
export function pngToPixels(bytes: Uint8Array, shape: readonly [number, number, number]): Float32Array {
  checkShape(shape);
  const [c, h, w] = shape;
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes));
  } catch (e) {
    throw new ImageError(`not a readable PNG (${bytes.length} bytes): ${(e as Error).message}`);
  }
  const { width: sw, height: sh, data } = png;
  const planes = Array.from({ length: c }, () => new Float64Array(sw * sh));
  for (let i = 0; i < sw * sh; i++) {
    const a = data[4 * i + 3]! / 255;
    if (c === 1) planes[0]![i] = (0.299 * data[4 * i]! + 0.587 * data[4 * i + 1]! + 0.114 * data[4 * i + 2]!) * a;
    else for (let k = 0; k < 3; k++) planes[k]![i] = data[4 * i + k]! * a;
  }
  const out = new Float32Array(c * h * w);
  planes.forEach((plane, k) => {
    for (let y = 0; y < h; y++) {
      const y0 = (y * sh) / h;
      const y1 = ((y + 1) * sh) / h;
      for (let x = 0; x < w; x++) {
        const x0 = (x * sw) / w;
        const x1 = ((x + 1) * sw) / w;
        let sum = 0;
        let area = 0;
        for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
          const fy = Math.min(y1, sy + 1) - Math.max(y0, sy);
          for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
            const f = fy * (Math.min(x1, sx + 1) - Math.max(x0, sx));
            sum += f * plane[sy * sw + sx]!;
            area += f;
          }
        }
        out[k * h * w + y * w + x] = sum / area / 127.5 - 1;
      }
    }
  });
  return out;
}

/** The PNG's width and height, read from its header without decoding; an ImageError if it is not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) throw new ImageError(`not a PNG (${bytes.length} bytes, no PNG signature)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
