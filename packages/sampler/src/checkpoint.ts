import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { RngState } from './rng.js';
import { type ImageSlot, type ModelSpec, type SamplerParams, type SamplerState, latentSize, validateParams } from './state.js';

/**
 * Checkpoint codec: a versioned, compact, self-verifying binary encoding of a full sampler state.
 *
 * Layout (version 2, little-endian; `str` = u16 byte length + UTF-8):
 * ```
 * body:    "OFCK" | u16 version = 2 | u16 flags = 0
 *          u8 hasParent | 32 bytes parent id (zeros when none)
 *          spec:   str name | 32 bytes sha256 | u32 vocabSize | u32 bos | u32 sep | u32 image
 *                  u16 k | u32 × k neverInsert | u32 × 3 latentShape [C, H, W]
 *          params: u32 steps | f64 guidance | f64 temperature | u32 topK | u32 maxLen | u32 maxImages
 *                  | f64 imageGuidance
 *          u32 seed | u8 rng algorithm (1 = xoroshiro128plus) | i32 × 4 rng words
 *          u32 step | f64 tText | u8 capped | u32 promptLen
 *          u32 n | u32 × n tokens
 *          u32 m | m × (f64 t | f32 × C·H·W latent, row-major)
 * trailer: 32 bytes SHA-256(body)
 * ```
 * The checkpoint id is the hex SHA-256 of the body (= the trailer), so a blob names itself and
 * decoding verifies it; a store that looks blobs up by id gets the id checked too.
 *
 * Version 1 (no imageGuidance) is still read: its states guided images with the text weight, so
 * they resume with imageGuidance = guidance (now against the text-free twin).
 */

export const CHECKPOINT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
const MAGIC = 0x4b43464f; // "OFCK" read as u32 LE

export type CheckpointErrorCode = 'truncated' | 'bad-magic' | 'unsupported-version' | 'hash-mismatch' | 'id-mismatch' | 'invalid';

/** A blob that cannot be decoded into a valid state; `code` says why, the message shows values. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Checkpoint {
  readonly state: SamplerState;
  /** Id of the checkpoint this one was derived from (a step or a refinement); null for a root. */
  readonly parent: string | null;
}

export interface EncodedCheckpoint {
  /** Hex SHA-256 of the body. */
  readonly id: string;
  readonly bytes: Uint8Array;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Latents are copied as raw bytes on little-endian hosts, so every float32 bit pattern (NaN payloads, −0) round-trips. */
const LITTLE_ENDIAN = endianness() === 'LE';
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private need(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(x: number) {
    this.need(1);
    this.view.setUint8(this.length, x);
    this.length += 1;
  }
  u16(x: number) {
    this.need(2);
    this.view.setUint16(this.length, x, true);
    this.length += 2;
  }
  u32(x: number) {
    if (!Number.isInteger(x) || x < 0 || x > 0xffff_ffff) throw new RangeError(`checkpoint field must be a u32, got ${x}`);
    this.need(4);
    this.view.setUint32(this.length, x, true);
    this.length += 4;
  }
  i32(x: number) {
    this.need(4);
    this.view.setInt32(this.length, x, true);
    this.length += 4;
  }
  f64(x: number) {
    this.need(8);
    this.view.setFloat64(this.length, x, true);
    this.length += 8;
  }
  bytes(b: Uint8Array) {
    this.need(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  f32s(a: Float32Array) {
    if (LITTLE_ENDIAN) return this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.need(4 * a.length);
    for (let i = 0; i < a.length; i++) this.view.setFloat32(this.length + 4 * i, a[i]!, true);
    this.length += 4 * a.length;
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 0xffff) throw new RangeError(`checkpoint string too long: ${b.length} bytes`);
    this.u16(b.length);
    this.bytes(b);
  }
  hash(hex: string) {
    if (!HEX64.test(hex)) throw new RangeError(`expected a hex SHA-256, got ${JSON.stringify(hex)}`);
    this.bytes(Buffer.from(hex, 'hex'));
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

class Reader {
  private pos = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private take(n: number, what: string): number {
    if (this.pos + n > this.buf.length) {
      throw new CheckpointError(
        'truncated',
        `checkpoint truncated reading ${what}: needs ${n} bytes at offset ${this.pos}, blob has ${this.buf.length}`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(what: string) {
    return this.view.getUint8(this.take(1, what));
  }
  u16(what: string) {
    return this.view.getUint16(this.take(2, what), true);
  }
  u32(what: string) {
    return this.view.getUint32(this.take(4, what), true);
  }
  i32(what: string) {
    return this.view.getInt32(this.take(4, what), true);
  }
  f64(what: string) {
    return this.view.getFloat64(this.take(8, what), true);
  }
  bytes(n: number, what: string) {
    const at = this.take(n, what);
    return this.buf.subarray(at, at + n);
  }
  f32s(n: number, what: string) {
    const at = this.take(4 * n, what);
    if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(this.buf.subarray(at, at + 4 * n)).buffer); // a copy (a Buffer's slice is a view)
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.view.getFloat32(at + 4 * i, true);
    return out;
  }
  str(what: string) {
    const b = this.bytes(this.u16(what), what);
    try {
      return utf8.decode(b);
    } catch {
      throw new CheckpointError('invalid', `${what} is not valid UTF-8 (${b.length} bytes)`);
    }
  }
  hex(what: string) {
    return Buffer.from(this.bytes(32, what)).toString('hex');
  }
  get offset() {
    return this.pos;
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** State (+ parent id) → `{ id, bytes }`. Deterministic: the same checkpoint always gives the same bytes. */
export function encodeCheckpoint({ state: s, parent }: Checkpoint): EncodedCheckpoint {
  const w = new Writer();
  w.u32(MAGIC);
  w.u16(CHECKPOINT_VERSION);
  w.u16(0);
  w.u8(parent === null ? 0 : 1);
  if (parent === null) w.bytes(new Uint8Array(32));
  else w.hash(parent);
  const { spec, params } = s;
  w.str(spec.name);
  w.hash(spec.sha256);
  for (const x of [spec.vocabSize, spec.bos, spec.sep, spec.image]) w.u32(x);
  w.u16(spec.neverInsert.length);
  for (const x of spec.neverInsert) w.u32(x);
  for (const x of spec.latentShape) w.u32(x);
  w.u32(params.steps);
  w.f64(params.guidance);
  w.f64(params.temperature);
  w.u32(params.topK);
  w.u32(params.maxLen);
  w.u32(params.maxImages);
  w.f64(params.imageGuidance);
  w.u32(s.seed);
  w.u8(1);
  for (const x of s.rng.words) w.i32(x);
  w.u32(s.step);
  w.f64(s.tText);
  w.u8(s.capped ? 1 : 0);
  w.u32(s.promptLen);
  w.u32(s.tokens.length);
  for (const x of s.tokens) w.u32(x);
  const size = latentSize(spec);
  w.u32(s.images.length);
  for (const [j, im] of s.images.entries()) {
    if (im.latent.length !== size)
      throw new RangeError(`image ${j}: latent has ${im.latent.length} values, expected ${size} [${spec.latentShape.join(', ')}]`);
    w.f64(im.t);
    w.f32s(im.latent);
  }
  const body = w.done();
  const digest = createHash('sha256').update(body).digest();
  const bytes = new Uint8Array(body.length + 32);
  bytes.set(body);
  bytes.set(digest, body.length);
  return { id: digest.toString('hex'), bytes };
}

/**
 * Bytes → checkpoint. Verifies the trailer hash (and `expectedId` when given) before parsing, then
 * the state's invariants; anything wrong throws {@link CheckpointError}, never returns a bad state.
 */
export function decodeCheckpoint(bytes: Uint8Array, expectedId?: string): Checkpoint & { id: string } {
  if (bytes.length < 32 + 8)
    throw new CheckpointError('truncated', `checkpoint truncated: ${bytes.length} bytes is shorter than header + hash (40)`);
  const r0 = new Reader(bytes);
  const magic = r0.u32('magic');
  if (magic !== MAGIC)
    throw new CheckpointError('bad-magic', `not a checkpoint: magic 0x${magic.toString(16)}, expected 0x${MAGIC.toString(16)} ("OFCK")`);
  const version = r0.u16('version');
  if (!READABLE_VERSIONS.includes(version))
    throw new CheckpointError('unsupported-version', `checkpoint version ${version}, this build reads ${READABLE_VERSIONS.join(', ')}`);
  const body = bytes.subarray(0, bytes.length - 32);
  const trailer = Buffer.from(bytes.subarray(bytes.length - 32)).toString('hex');
  const id = sha256Hex(body);
  if (id !== trailer)
    throw new CheckpointError('hash-mismatch', `checkpoint corrupt or truncated: SHA-256 of body ${id} != stored ${trailer}`);
  if (expectedId !== undefined && expectedId !== id)
    throw new CheckpointError('id-mismatch', `checkpoint id ${id} is not the requested ${expectedId}`);

  const r = new Reader(body);
  r.u32('magic');
  r.u16('version');
  const flags = r.u16('flags');
  if (flags !== 0) throw new CheckpointError('invalid', `checkpoint flags ${flags}, expected 0`);
  const hasParent = r.u8('parent flag');
  const parentHex = r.hex('parent');
  if (hasParent === 0 && parentHex !== '0'.repeat(64))
    throw new CheckpointError('invalid', `checkpoint has no parent but parent bytes ${parentHex}`);
  const name = r.str('model name');
  const sha = r.hex('model sha256');
  const [vocabSize, bos, sep, image] = [r.u32('vocabSize'), r.u32('bos'), r.u32('sep'), r.u32('image')];
  const k = r.u16('neverInsert count');
  const neverInsert = Array.from({ length: k }, () => r.u32('neverInsert'));
  const latentShape: [number, number, number] = [r.u32('latent C'), r.u32('latent H'), r.u32('latent W')];
  const spec: ModelSpec = { name, sha256: sha, vocabSize, bos, sep, image, neverInsert, latentShape };
  const steps = r.u32('steps');
  const guidance = r.f64('guidance');
  const params: SamplerParams = {
    steps,
    guidance,
    temperature: r.f64('temperature'),
    topK: r.u32('topK'),
    maxLen: r.u32('maxLen'),
    maxImages: r.u32('maxImages'),
    imageGuidance: version >= 2 ? r.f64('imageGuidance') : guidance,
  };
  const seed = r.u32('seed');
  const algo = r.u8('rng algorithm');
  if (algo !== 1) throw new CheckpointError('invalid', `unknown RNG algorithm ${algo}`);
  const rng: RngState = { algorithm: 'xoroshiro128plus', words: [r.i32('rng'), r.i32('rng'), r.i32('rng'), r.i32('rng')] };
  const step = r.u32('step');
  const tText = r.f64('tText');
  const capped = r.u8('capped');
  const promptLen = r.u32('promptLen');
  const n = r.u32('token count');
  if (n > body.length) throw new CheckpointError('invalid', `token count ${n} exceeds blob size ${body.length}`);
  const tokens = Array.from({ length: n }, () => r.u32('tokens'));
  const m = r.u32('image count');
  const size = latentShape[0] * latentShape[1] * latentShape[2];
  if (m * (8 + 4 * size) > body.length)
    throw new CheckpointError('invalid', `image count ${m} × ${size} values exceeds blob size ${body.length}`);
  const images: ImageSlot[] = [];
  for (let j = 0; j < m; j++) images.push({ t: r.f64('image t'), latent: r.f32s(size, 'latent') });
  if (r.offset !== body.length)
    throw new CheckpointError('invalid', `checkpoint has ${body.length - r.offset} trailing bytes after the state`);

  const state: SamplerState = { spec, params, seed, rng, tokens, promptLen, images, tText, capped: capped === 1, step };
  const problem = stateProblem(state) ?? (hasParent > 1 ? `parent flag ${hasParent}` : capped > 1 ? `capped flag ${capped}` : undefined);
  if (problem !== undefined) throw new CheckpointError('invalid', `checkpoint ${id.slice(0, 12)} holds an invalid state: ${problem}`);
  return { id, state, parent: hasParent === 1 ? parentHex : null };
}

/** Why a state is not valid, or undefined. */
export function stateProblem(s: SamplerState): string | undefined {
  try {
    validateParams(s.params);
  } catch (e) {
    return (e as Error).message;
  }
  const { spec } = s;
  const ids = [spec.bos, spec.sep, spec.image, ...spec.neverInsert];
  if (ids.some((x) => x >= spec.vocabSize)) return `special token ids [${ids.join(', ')}] not below vocabSize ${spec.vocabSize}`;
  if (s.promptLen < 2 || s.promptLen > s.tokens.length) return `promptLen ${s.promptLen} not in [2, ${s.tokens.length}]`;
  if (s.tokens[0] !== spec.bos || s.tokens[s.promptLen - 1] !== spec.sep)
    return `tokens must be <bos> … <sep> …, got [${s.tokens.slice(0, s.promptLen).join(', ')}]`;
  const bad = s.tokens.findIndex((x) => x >= spec.vocabSize);
  if (bad >= 0) return `token ${s.tokens[bad]} at ${bad} not below vocabSize ${spec.vocabSize}`;
  const nImg = s.tokens.filter((x) => x === spec.image).length;
  if (nImg !== s.images.length) return `${nImg} <image> tokens but ${s.images.length} images`;
  if (!(s.tText >= 0 && s.tText <= 1)) return `tText ${s.tText} not in [0, 1]`;
  const badT = s.images.findIndex((im) => !(im.t >= 0 && im.t <= 1));
  if (badT >= 0) return `image ${badT} clock ${s.images[badT]?.t} not in [0, 1]`;
  return undefined;
}

/** A checkpoint blob's id for content-addressed stores (`LocalBlobStore`/`S3BlobStore` `idOf`): SHA-256 of its body. */
export function checkpointIdOf(bytes: Uint8Array): string {
  return decodeCheckpoint(bytes).id;
}
