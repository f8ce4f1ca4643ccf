import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3Server } from '@oneflow/devstack';
import { BlobCorruptError, blobId, BlobNotFoundError, InvalidBlobIdError, LocalBlobStore, S3BlobStore, type BlobStore } from './index.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** The same contract for every implementation; `corrupt` overwrites a stored blob behind the store's back. */
function contract(name: string, make: () => { store: BlobStore; corrupt(id: string, body: Uint8Array): Promise<void> }) {
  describe(`${name} blob store`, () => {
    it('round-trips bytes under their SHA-256 id', async () => {
      const { store } = make();
      const data = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256);
      const id = await store.put(data);
      expect(id).toBe(blobId(data));
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(await store.has(id)).toBe(true);
      expect(Buffer.from(await store.get(id)).equals(Buffer.from(data))).toBe(true);
    });

    it('is idempotent and immutable: the same content twice gives the same id', async () => {
      const { store } = make();
      const [a, b] = await Promise.all([store.put(bytes('same')), store.put(bytes('same'))]);
      expect(a).toBe(b);
      expect(new TextDecoder().decode(await store.get(a))).toBe('same');
    });

    it('reports a missing blob with a typed error', async () => {
      const { store } = make();
      const id = blobId(bytes('never stored'));
      expect(await store.has(id)).toBe(false);
      await expect(store.get(id)).rejects.toBeInstanceOf(BlobNotFoundError);
    });

    it('detects a corrupt blob instead of returning it', async () => {
      const fixture = make();
      const { store } = fixture;
      const id = await store.put(bytes('the real checkpoint'));
      await fixture.corrupt(id, bytes('bit rot'));
      const error = await store.get(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobCorruptError);
      expect((error as BlobCorruptError).actual).toBe(blobId(bytes('bit rot')));
    });

    it('stores non-durably on request and persists later', async () => {
      const { store } = make();
      const id = await store.put(bytes('fast path'), { durable: false });
      expect(new TextDecoder().decode(await store.get(id))).toBe('fast path');
      await store.persist(id);
      await expect(store.persist(blobId(bytes('absent')))).rejects.toBeInstanceOf(BlobNotFoundError);
    });

    it('rejects malformed ids before touching storage', async () => {
      const { store } = make();
      await expect(store.get('../../etc/passwd')).rejects.toBeInstanceOf(InvalidBlobIdError);
      await expect(store.has('ABC')).rejects.toBeInstanceOf(InvalidBlobIdError);
    });
  });
}

const root = mkdtempSync(path.join(tmpdir(), 'oneflow-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

contract('local directory', () => {
  const dir = mkdtempSync(path.join(root, 'blobs-'));
  return {
    store: new LocalBlobStore(dir),
    corrupt: async (id, body) => writeFileSync(path.join(dir, id.slice(0, 2), id), body),
  };
});

describe('local directory store, crash safety', () => {
  it('ignores a partial temporary file a crashed writer left behind', async () => {
    const dir = mkdtempSync(path.join(root, 'crash-'));
    const store = new LocalBlobStore(dir);
    const data = bytes('checkpoint after a crash');
    const id = blobId(data);
    // A writer killed mid-write leaves only a partial temporary file, never the final name.
    const shard = path.join(dir, id.slice(0, 2));
    mkdirSync(shard, { recursive: true });
    writeFileSync(path.join(shard, `${id}.tmp-deadbeef`), data.subarray(0, 5));
    expect(await store.has(id)).toBe(false);
    await expect(store.get(id)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await store.put(data)).toBe(id);
    expect(new TextDecoder().decode(await store.get(id))).toBe('checkpoint after a crash');
    // its own write left no temporary file
    expect(readdirSync(shard).sort()).toEqual([id, `${id}.tmp-deadbeef`]);
  });
});

describe('S3-compatible store (moto server)', () => {
  let s3: LocalS3Server;
  let raw: S3Client;
  const stores: S3BlobStore[] = [];
  const config = () => ({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  beforeAll(async () => {
    s3 = await startLocalS3();
    raw = new S3Client(config());
    await raw.send(new CreateBucketCommand({ Bucket: 'oneflow-test' }));
  });
  afterAll(async () => {
    for (const s of stores) s.destroy();
    raw.destroy();
    await s3.stop();
  });

  let n = 0;
  contract('S3', () => {
    const prefix = `run-${n++}/`;
    const store = new S3BlobStore({ bucket: 'oneflow-test', prefix, client: config() });
    stores.push(store);
    return {
      store,
      corrupt: async (id, body) => {
        await raw.send(new PutObjectCommand({ Bucket: 'oneflow-test', Key: `${prefix}${id}`, Body: body }));
      },
    };
  });

  it('names its location', () => {
    const store = new S3BlobStore({ bucket: 'b', prefix: 'ckpt/', client: config() });
    stores.push(store);
    expect(store.location).toBe('s3://b/ckpt/');
  });
});

describe('a format with its own id', () => {
  it('stores and verifies blobs under the id the format defines', async () => {
    // e.g. the sampler's checkpoints: id = SHA-256 of the body, the last 32 bytes are a trailer
    const idOf = (b: Uint8Array) => blobId(b.subarray(0, b.length - 32));
    const store = new LocalBlobStore(mkdtempSync(path.join(root, 'own-id-')), { idOf });
    const body = bytes('body of a checkpoint');
    const blob = new Uint8Array([...body, ...new Uint8Array(32).fill(7)]);
    const id = await store.put(blob);
    expect(id).toBe(blobId(body));
    expect(Buffer.from(await store.get(id)).equals(Buffer.from(blob))).toBe(true);
  });
});
