import { describe, expect, it } from 'vitest';
import { fromFloat16, toFloat16 } from './tensor.js';

describe('float16 at the boundary', () => {
  it('converts exactly representable values both ways and rounds to nearest even', () => {
    const exact = Float32Array.from([0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, 3.140625]);
    expect(Array.from(fromFloat16(toFloat16(exact)))).toEqual(Array.from(exact));
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1)
    expect(fromFloat16(toFloat16(Float32Array.from([1 + 2 ** -11])))[0]).toBe(1);
    expect(fromFloat16(toFloat16(Float32Array.from([1 + 3 * 2 ** -11])))[0]).toBe(1 + 2 * 2 ** -10);
  });

  it('keeps the half-precision bit patterns of specials', () => {
    const bits = toFloat16(Float32Array.from([Infinity, -Infinity, NaN, 1e6, 1e-9]));
    expect(Array.from(bits.slice(0, 2))).toEqual([0x7c00, 0xfc00]);
    expect(bits[2]! & 0x7c00).toBe(0x7c00);
    expect(bits[2]! & 0x3ff).not.toBe(0);
    expect(bits[3]).toBe(0x7c00); // overflow → +Inf
    expect(bits[4]).toBe(0); // underflow → +0
    expect(Number.isNaN(fromFloat16(bits)[2])).toBe(true);
  });

  it('is within half a unit in the last place on random values', () => {
    const xs = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 100);
    const back = fromFloat16(toFloat16(xs));
    xs.forEach((x, i) => expect(Math.abs(back[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 1e-12));
  });
});

describe('float16 outputs, whatever array ONNX Runtime hands out', () => {
  it('reads a Uint16Array of bits and (on engines that have one) a Float16Array view of the same bits alike', async () => {
    const { halfTensorValues } = await import('./tensor.js');
    const xs = Float32Array.from([0, 1, -2.5, 0.1, 1000]);
    const bits = toFloat16(xs);
    const want = Array.from(fromFloat16(bits));
    expect(Array.from(halfTensorValues(bits))).toEqual(want);
    const Half = (globalThis as { Float16Array?: new (b: ArrayBuffer) => ArrayBufferView }).Float16Array;
    if (Half) expect(Array.from(halfTensorValues(new Half(bits.buffer as ArrayBuffer)))).toEqual(want);
  });
});
