import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';

/**
 * The stream of random numbers a sampler step consumes (training/sample.py `Draws`).
 * The step calls it in a fixed order (see step.ts), so any implementation fed the same numbers
 * gives the same state.
 */
export interface Draws {
  /** `n` uniforms in [0, 1): float64 `[n]`. */
  uniforms(n: number): Float64Array;
  /** `n` standard normals: float32 `[n]`. */
  normals(n: number): Float32Array;
  /** The state to store after the draws so far, for seeded streams; absent for recorded streams. */
  snapshot?(): RngState;
}

/**
 * Serializable RNG state: pure-rand's xoroshiro128+ (`getState()`, four int32 words), stored in
 * checkpoints so that a continuation draws the same numbers.
 */
export interface RngState {
  readonly algorithm: 'xoroshiro128plus';
  readonly words: readonly [number, number, number, number];
}

/** The initial RNG state for a seed (an integer in [0, 2^32)). */
export function rngStateFromSeed(seed: number): RngState {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  const g = xoroshiro128plus(seed | 0);
  // The generator starts from [-1, ~seed, seed, 0]; a jump (2^64 steps) decorrelates nearby seeds.
  g.jump();
  return toState(g.getState());
}

function toState(words: readonly number[]): RngState {
  const [a, b, c, d] = words;
  if (words.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    throw new Error(`xoroshiro128plus state must have 4 words, got ${words.length}`);
  }
  return { algorithm: 'xoroshiro128plus', words: [a | 0, b | 0, c | 0, d | 0] };
}

/**
 * A seeded, mutable draw stream over an {@link RngState}. Uniforms are pure-rand's
 * `uniformFloat64` (53 bits from two 32-bit outputs); normals come in Box–Muller pairs
 * (`r = sqrt(-2 ln(1 - u1))`, `r cos 2πu2`, `r sin 2πu2`, computed in float64 then rounded to
 * float32); an odd `n` drops the last pair's second value so the state never holds a spare.
 */
export class SeededDraws implements Draws {
  private readonly g;

  constructor(state: RngState) {
    if (state.algorithm !== 'xoroshiro128plus') throw new Error(`unknown RNG algorithm ${String(state.algorithm)}`);
    this.g = xoroshiro128plusFromState(state.words);
  }

  static fromSeed(seed: number): SeededDraws {
    return new SeededDraws(rngStateFromSeed(seed));
  }

  uniforms(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = uniformFloat64(this.g);
    return out;
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u1 = uniformFloat64(this.g);
      const u2 = uniformFloat64(this.g);
      const r = Math.sqrt(-2 * Math.log(1 - u1));
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  snapshot(): RngState {
    return toState(this.g.getState());
  }
}

/** Replays explicit numbers (golden vectors); throws when the step asks for more than it has. */
export class RecordedDraws implements Draws {
  private u = 0;
  private z = 0;

  constructor(
    private readonly uniformValues: ArrayLike<number>,
    private readonly normalValues: ArrayLike<number> = [],
  ) {}

  uniforms(n: number): Float64Array {
    if (this.u + n > this.uniformValues.length) {
      throw new Error(`ran out of uniforms: needed ${n}, had ${this.uniformValues.length - this.u}`);
    }
    const out = Float64Array.from({ length: n }, (_, i) => this.uniformValues[this.u + i] ?? NaN);
    this.u += n;
    return out;
  }

  normals(n: number): Float32Array {
    if (this.z + n > this.normalValues.length) {
      throw new Error(`ran out of normals: needed ${n}, had ${this.normalValues.length - this.z}`);
    }
    const out = Float32Array.from({ length: n }, (_, i) => this.normalValues[this.z + i] ?? NaN);
    this.z += n;
    return out;
  }

  /** How many numbers were consumed: `[uniforms, normals]`. */
  get used(): [number, number] {
    return [this.u, this.z];
  }
}
