/** Tensors as they cross thread boundaries: `data` row-major with the given `dims`. */
export type NamedTensor =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  /** IEEE 754 half precision as its bits, one Uint16 per value ({@link toFloat16}); outputs may come as a `Float16Array`. */
  | { type: 'float16'; data: Uint16Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] }
  /** 0/1 per value. */
  | { type: 'bool'; data: Uint8Array; dims: readonly number[] };

/** Inputs may omit `type` for float32. */
export type TensorInput = NamedTensor | { type?: undefined; data: Float32Array; dims: readonly number[] };
export type TensorMap = Record<string, TensorInput>;

/** What a session returns, before any conversion. */
export type RawOutputs = Record<string, { type: string; data: ArrayBufferView & { buffer: ArrayBufferLike }; dims: readonly number[] }>;
/** Float outputs, converted to float32. */
export type OutputMap = Record<string, { data: Float32Array; dims: readonly number[] }>;

export type ExecutionProvider = 'cpu' | 'cuda';
export type FloatType = 'float32' | 'float16';

/** A file a graph needs, with the hash config.json promises and the config field that names it (for errors). */
export interface GraphFile {
  readonly path: string;
  readonly sha256: string;
  readonly field: string;
}

/** One input or output as the ONNX graph declares it: symbolic dimensions are strings. */
export interface ValueInfo {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}
export interface GraphMetadata {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/**
 * The data of a float16 output as float32: ONNX Runtime hands out its bits as a Uint16Array, or,
 * where the engine has `Float16Array` (Node ≥ 24), a Float16Array view of them; both are read as bits.
 */
export function halfTensorValues(data: ArrayBufferView): Float32Array {
  if (data.byteLength % 2 !== 0) throw new Error(`float16 tensor data of ${data.byteLength} bytes`);
  return fromFloat16(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half (round to nearest even; overflow → ±Inf, NaN kept). */
export function toFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++; // may carry into the exponent: still correct
    out[i] = sign | half;
  }
  return out;
}

/** IEEE half → float32 (exact). */
export function fromFloat16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** A session's float output as float32 (float16 converted); other element types are refused. */
export function floatOutput(name: string, t: RawOutputs[string]): { data: Float32Array; dims: readonly number[] } {
  if (t.type === 'float32') return { data: t.data as Float32Array, dims: t.dims };
  if (t.type === 'float16') return { data: halfTensorValues(t.data), dims: t.dims };
  throw new Error(`output ${name}: expected float32 or float16, got ${t.type}`);
}

/** A float32 input in the graph's float type. */
export function floatInput(data: Float32Array, dims: readonly number[], type: FloatType): NamedTensor {
  return type === 'float16' ? { type, data: toFloat16(data), dims } : { type, data, dims };
}
