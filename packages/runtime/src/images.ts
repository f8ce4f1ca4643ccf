import { PNG } from 'pngjs';

/**
 * Latents ↔ PNG. The toy model's latents are pixel space: float32 `[1, H, W]` row-major, value
 * `x ∈ [-1, 1]` at t = 1 for the gray level `(x + 1) / 2` (training/data.py `to_latent`:
 * `x = u8 / 127.5 − 1`). Only C = 1 (grayscale) is supported.
 */

/** Latent `[1, H, W]` → 8-bit grayscale PNG bytes (deterministic). Values outside [-1, 1] are clipped. */
export function latentToPng(latent: Float32Array, shape: readonly [number, number, number]): Buffer {
  const [c, h, w] = shape;
  if (c !== 1 || latent.length !== h * w)
    throw new RangeError(`expected a latent [1, H, W] with ${h * w} values, got C=${c} and ${latent.length} values`);
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < h * w; i++) {
    const x = latent[i]!;
    const v = Number.isNaN(x) ? 0 : Math.round(Math.min(1, Math.max(-1, x)) * 127.5 + 127.5);
    png.data[4 * i] = v;
    png.data[4 * i + 1] = v;
    png.data[4 * i + 2] = v;
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 0, bitDepth: 8 });
}

/**
 * PNG bytes → latent `[1, H, W]` (float32). Color is converted to luma (BT.601), alpha composited
 * on black (the toy world's background); any other size is resized to `H × W` by area averaging.
 */
export function pngToLatent(bytes: Uint8Array, shape: readonly [number, number, number]): Float32Array {
  const [c, h, w] = shape;
  if (c !== 1) throw new RangeError(`only grayscale latents [1, H, W] are supported, got C=${c}`);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes));
  } catch (e) {
    throw new Error(`not a readable PNG (${bytes.length} bytes): ${(e as Error).message}`);
  }
  const { width: sw, height: sh, data } = png;
  const gray = new Float64Array(sw * sh);
  for (let i = 0; i < sw * sh; i++) {
    const a = data[4 * i + 3]! / 255;
    gray[i] = (0.299 * data[4 * i]! + 0.587 * data[4 * i + 1]! + 0.114 * data[4 * i + 2]!) * a;
  }
  const out = new Float32Array(h * w);
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
          sum += f * gray[sy * sw + sx]!;
          area += f;
        }
      }
      out[y * w + x] = sum / area / 127.5 - 1;
    }
  }
  return out;
}
