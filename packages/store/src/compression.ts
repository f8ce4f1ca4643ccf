import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * How a store may compress blob bodies at rest. A blob's id is always the hash its format defines
 * over the *uncompressed* bytes, so compression changes what lies on disk, never an id or a read.
 *
 * Envelope (written only when compressing): "OFZ" | u8 algorithm ('b' brotli, 'd' raw deflate,
 * 'n' stored) | u32 LE uncompressed length | data. Stored bytes that do not start with "OFZ" are
 * the blob itself (every blob written before compression existed: checkpoints start with "OFCK").
 * A blob that itself starts with "OFZ" is always wrapped (as 'n' when not compressing), so the
 * envelope is never ambiguous.
 */
export type Compression = 'none' | 'deflate' | 'brotli';
export const COMPRESSIONS = ['none', 'deflate', 'brotli'] as const satisfies readonly Compression[];

const MAGIC = [0x4f, 0x46, 0x5a] as const; // "OFZ"
const HEADER = 8;

function startsWithMagic(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === MAGIC[0] && b[1] === MAGIC[1] && b[2] === MAGIC[2];
}

function envelope(algorithm: 'b' | 'd' | 'n', length: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + data.length);
  out.set(MAGIC, 0);
  out[3] = algorithm.charCodeAt(0);
  new DataView(out.buffer).setUint32(4, length, true);
  out.set(data, HEADER);
  return out;
}

/** The bytes to store for `bytes`: an envelope when it is smaller (or required), else `bytes` as they are. */
export function packBlob(bytes: Uint8Array, compression: Compression): Uint8Array {
  if (compression !== 'none') {
    const data =
      compression === 'brotli'
        ? brotliCompressSync(bytes, {
            params: {
              // Quality 5: most of brotli's gain at a few ms per 10 kB (bench/storage).
              [constants.BROTLI_PARAM_QUALITY]: 5,
              [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            },
          })
        : deflateRawSync(bytes, { level: 6 });
    if (data.length + HEADER < bytes.length) return envelope(compression === 'brotli' ? 'b' : 'd', bytes.length, data);
  }
  return startsWithMagic(bytes) ? envelope('n', bytes.length, bytes) : bytes;
}

export class BlobEnvelopeError extends Error {
  override readonly name = 'BlobEnvelopeError';
}

/** The blob's own bytes from what a store holds (throws {@link BlobEnvelopeError} on a damaged envelope). */
export function unpackBlob(stored: Uint8Array): Uint8Array {
  if (!startsWithMagic(stored)) return stored;
  if (stored.length < HEADER) throw new BlobEnvelopeError(`compressed blob truncated: ${stored.length} bytes`);
  const length = new DataView(stored.buffer, stored.byteOffset, stored.byteLength).getUint32(4, true);
  const algorithm = String.fromCharCode(stored[3]!);
  const data = stored.subarray(HEADER);
  let out: Uint8Array;
  try {
    if (algorithm === 'n') out = data;
    else if (algorithm === 'b') out = brotliDecompressSync(data, { maxOutputLength: length + 1 });
    else if (algorithm === 'd') out = inflateRawSync(data, { maxOutputLength: length + 1 });
    else throw new BlobEnvelopeError(`unknown blob compression ${JSON.stringify(algorithm)}`);
  } catch (error) {
    if (error instanceof BlobEnvelopeError) throw error;
    throw new BlobEnvelopeError(`compressed blob unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (out.length !== length) throw new BlobEnvelopeError(`compressed blob holds ${out.length} bytes, its header says ${length}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
