import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import {
  assertBlobId,
  assertRecordKey,
  BlobCorruptError,
  blobId,
  BlobNotFoundError,
  isBlobId,
  verified,
  type BlobEntry,
  type BlobStore,
  type DeleteOptions,
  type IdOf,
  type RecordStore,
} from './blob-store.js';
import { packBlob, unpackBlob, type Compression } from './compression.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, e.g. `checkpoints/` (blobs are stored at `<prefix><id>`, records at `<prefix>_records/<key>`). */
  prefix?: string;
  /** Id of a blob from its bytes (default: SHA-256 of all bytes). */
  idOf?: IdOf;
  /** Compression of blob bodies at rest (default none; reads understand every kind). */
  compression?: Compression;
  /** Passed to the AWS SDK: `endpoint` + `forcePathStyle` for S3-compatible servers. */
  client?: S3ClientConfig;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof NotFound ||
    error instanceof NoSuchKey ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
  );
}

/**
 * Blobs as objects in an S3-compatible bucket: the store of scaled-out, stateless workers.
 * A PUT is atomic on S3 (an object appears whole or not at all); the SHA-256 checksum header
 * makes the server reject a body damaged in transit, and reads are verified against the id.
 */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  readonly records: RecordStore;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly idOf: IdOf;
  private readonly compression: Compression;

  constructor(options: S3BlobStoreOptions) {
    this.idOf = options.idOf ?? blobId;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.compression = options.compression ?? 'none';
    this.client = new S3Client(options.client ?? {});
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.records = new S3RecordStore(this.client, this.bucket, `${this.prefix}_records/`);
  }

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  /**
   * Always a PUT (no HEAD first): storing content that is already there rewrites the same bytes
   * and refreshes the object's LastModified, which keeps a re-referenced blob from the garbage
   * collector; a new blob costs one request instead of two.
   */
  async put(bytes: Uint8Array): Promise<string> {
    const id = this.idOf(bytes);
    const body = packBlob(bytes, this.compression);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(id),
        Body: body,
        ContentType: 'application/octet-stream',
        ChecksumSHA256: Buffer.from(blobId(body), 'hex').toString('base64'),
      }),
    );
    return id;
  }

  /** A completed PUT is already durable on S3. */
  async persist(id: string): Promise<void> {
    if (!(await this.has(id))) throw new BlobNotFoundError(id, this.location);
  }

  async get(id: string): Promise<Uint8Array> {
    assertBlobId(id);
    let stored: Uint8Array;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      if (!res.Body) throw new BlobNotFoundError(id, this.location);
      stored = await res.Body.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(id, this.location);
      throw error;
    }
    let body: Uint8Array;
    try {
      body = unpackBlob(stored);
    } catch (error) {
      throw new BlobCorruptError(id, `(unreadable: ${(error as Error).message})`, this.location);
    }
    return verified(id, body, this.location, this.idOf);
  }

  async has(id: string): Promise<boolean> {
    return (await this.stat(id)) !== null;
  }

  async stat(id: string): Promise<BlobEntry | null> {
    assertBlobId(id);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      return { id, size: res.ContentLength ?? 0, modifiedAt: res.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async *list(): AsyncIterable<BlobEntry> {
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const o of res.Contents ?? []) {
        const id = (o.Key ?? '').slice(this.prefix.length);
        if (isBlobId(id)) yield { id, size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * HEAD, then DELETE. S3 has no delete conditioned on the modification time of a general
   * purpose bucket's object, so a PUT of the same content between the two is lost: the
   * collector keeps that window to one round trip and re-checks reachability just before.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<boolean> {
    const entry = await this.stat(id);
    if (!entry) return false;
    if (options.unlessModifiedSince && entry.modifiedAt.getTime() >= options.unlessModifiedSince.getTime()) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
    return true;
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** Records as objects under a key prefix. */
class S3RecordStore implements RecordStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  private key(key: string): string {
    assertRecordKey(key);
    return `${this.prefix}${key}`;
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return res.Body ? await res.Body.transformToByteArray() : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: bytes, ContentType: 'application/json' }));
  }

  async delete(key: string): Promise<boolean> {
    const k = this.key(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: k }));
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: k }));
    return true;
  }

  async *list(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}${prefix}`,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of res.Contents ?? []) if (o.Key) yield o.Key.slice(this.prefix.length);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }
}
