import { createHash } from 'node:crypto';

/**
 * Content-addressed, immutable blob storage for checkpoints: a blob's id is the lowercase hex
 * SHA-256 of its bytes, so an id names exactly one content and a read can prove it got it.
 */
export interface BlobStore {
  /**
   * Stores `bytes` (idempotent: storing the same content again is a no-op) and returns its id.
   * With `durable: false` the blob survives a crash of this process but may be lost with the
   * machine until {@link persist} (the local store skips the fsync; S3 is always durable).
   */
  put(bytes: Uint8Array, options?: PutOptions): Promise<string>;
  /** Makes a blob stored with `durable: false` durable (fsync). */
  persist(id: string): Promise<void>;
  /** The blob's bytes, verified against `id`. Throws {@link BlobNotFoundError} or {@link BlobCorruptError}. */
  get(id: string): Promise<Uint8Array>;
  has(id: string): Promise<boolean>;
  /** Where the blobs live, for logs and errors (`file:///…`, `s3://bucket/prefix`). */
  readonly location: string;
}

export interface PutOptions {
  /** Default true: the blob is on stable storage when `put` resolves. */
  durable?: boolean;
}

export class BlobStoreError extends Error {
  override readonly name: string = 'BlobStoreError';
}
export class InvalidBlobIdError extends BlobStoreError {
  override readonly name = 'InvalidBlobIdError';
  constructor(readonly id: string) {
    super(`invalid blob id ${JSON.stringify(id.slice(0, 80))}: expected 64 lowercase hex characters (SHA-256)`);
  }
}
export class BlobNotFoundError extends BlobStoreError {
  override readonly name = 'BlobNotFoundError';
  constructor(
    readonly id: string,
    location: string,
  ) {
    super(`blob ${id} not found in ${location}`);
  }
}
export class BlobCorruptError extends BlobStoreError {
  override readonly name = 'BlobCorruptError';
  constructor(
    readonly id: string,
    readonly actual: string,
    location: string,
  ) {
    super(`blob ${id} in ${location} is corrupt: its content hashes to ${actual}`);
  }
}

const ID_PATTERN = /^[0-9a-f]{64}$/;

/** The default id of a blob: hex SHA-256 of all its bytes. */
export function blobId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * How a store derives a blob's id from its bytes. Formats that carry their own hash (the
 * sampler's checkpoints: SHA-256 of the body, stored as a trailer) plug theirs in, so the store
 * key and the format's id are the same string.
 */
export type IdOf = (bytes: Uint8Array) => string;

export function assertBlobId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new InvalidBlobIdError(id);
}

/** Returns `bytes` if they hash to `id`, else throws {@link BlobCorruptError}. */
export function verified(id: string, bytes: Uint8Array, location: string, idOf: IdOf = blobId): Uint8Array {
  let actual: string;
  try {
    actual = idOf(bytes);
  } catch (error) {
    actual = `(unreadable: ${error instanceof Error ? error.message : String(error)})`;
  }
  if (actual !== id) throw new BlobCorruptError(id, actual, location);
  return bytes;
}
