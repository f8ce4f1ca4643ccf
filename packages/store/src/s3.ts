import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { assertBlobId, blobId, BlobNotFoundError, verified, type BlobStore, type IdOf } from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, e.g. `checkpoints/` (blobs are stored at `<prefix><id>`). */
  prefix?: string;
  /** Id of a blob from its bytes (default: SHA-256 of all bytes). */
  idOf?: IdOf;
  /** Passed to the AWS SDK: `endpoint` + `forcePathStyle` for S3-compatible servers. */
  client?: S3ClientConfig;
}

/**
 * Blobs as objects in an S3-compatible bucket: the store of scaled-out, stateless workers.
 * A PUT is atomic on S3 (an object appears whole or not at all); the SHA-256 checksum header
 * makes the server reject a body damaged in transit, and reads are verified against the id.
 */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly idOf: IdOf;

  constructor(options: S3BlobStoreOptions) {
    this.idOf = options.idOf ?? blobId;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.client = new S3Client(options.client ?? {});
    this.location = `s3://${this.bucket}/${this.prefix}`;
  }

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const id = this.idOf(bytes);
    if (await this.has(id)) return id;
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(id),
        Body: bytes,
        ContentType: 'application/octet-stream',
        ChecksumSHA256: Buffer.from(blobId(bytes), 'hex').toString('base64'),
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
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      if (!res.Body) throw new BlobNotFoundError(id, this.location);
      return verified(id, await res.Body.transformToByteArray(), this.location, this.idOf);
    } catch (error) {
      if (error instanceof NoSuchKey || error instanceof NotFound) throw new BlobNotFoundError(id, this.location);
      throw error;
    }
  }

  async has(id: string): Promise<boolean> {
    assertBlobId(id);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      return true;
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return false;
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
