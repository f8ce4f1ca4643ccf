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
  /** Size and modification time of a stored blob, or null when it is not there. */
  stat(id: string): Promise<BlobEntry | null>;
  /** Every stored blob (any order; temporary files of writers in flight are not blobs). */
  list(): AsyncIterable<BlobEntry>;
  /**
   * Removes a blob (garbage collection). With `unlessModifiedSince`, a blob whose modification
   * time is at or after it is left alone: a writer that stored (or re-stored) the same content
   * since the collector looked keeps it. Resolves true when this call removed the blob.
   */
  delete(id: string, options?: DeleteOptions): Promise<boolean>;
  /** Small mutable records beside the blobs (retention indexes, pins), in the same place. */
  readonly records: RecordStore;
  /** Where the blobs live, for logs and errors (`file:///…`, `s3://bucket/prefix`). */
  readonly location: string;
}

/** A stored blob as a listing shows it: `size` is the stored size (after any compression). */
export interface BlobEntry {
  id: string;
  size: number;
  modifiedAt: Date;
}

export interface DeleteOptions {
  unlessModifiedSince?: Date;
}

/**
 * Mutable named records (JSON and the like), kept beside a store's blobs. Keys are
 * `[a-z0-9._-]` segments joined by `/`; a put replaces the record atomically.
 */
export interface RecordStore {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Resolves true when the record was there. */
  delete(key: string): Promise<boolean>;
  /** Keys that start with `prefix`. */
  list(prefix: string): AsyncIterable<string>;
}

const RECORD_KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

export class InvalidRecordKeyError extends Error {
  override readonly name = 'InvalidRecordKeyError';
  constructor(readonly key: string) {
    super(`invalid record key ${JSON.stringify(key.slice(0, 120))}: expected [a-z0-9._-] segments joined by /`);
  }
}

export function assertRecordKey(key: string): void {
  if (!RECORD_KEY.test(key) || key.split('/').some((s) => s === '.' || s === '..') || key.length > 512)
    throw new InvalidRecordKeyError(key);
}

/** True for a string that is a blob id (64 lowercase hex characters). */
export function isBlobId(id: string): boolean {
  return ID_PATTERN.test(id);
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
