import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3Server } from '@oneflow/devstack';
import {
  BlobCorruptError,
  blobId,
  BlobNotFoundError,
  InvalidBlobIdError,
  InvalidRecordKeyError,
  LocalBlobStore,
  packBlob,
  S3BlobStore,
  type BlobEntry,
  type BlobStore,
  type Compression,
} from './index.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** The same contract for every implementation; `corrupt` overwrites a stored blob behind the store's back. */
function contract(
  name: string,
  make: (compression?: Compression) => { store: BlobStore; corrupt(id: string, body: Uint8Array): Promise<void> },
) {
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

    it('lists blobs with size and modification time, and deletes them', async () => {
      const { store } = make();
      const a = await store.put(bytes('blob a'));
      const b = await store.put(bytes('blob bb'));
      const listed = new Map<string, BlobEntry>();
      for await (const e of store.list()) listed.set(e.id, e);
      expect([...listed.keys()].sort()).toEqual([a, b].sort());
      expect(listed.get(b)!.size).toBeGreaterThan(0);
      expect(Math.abs(listed.get(a)!.modifiedAt.getTime() - Date.now())).toBeLessThan(60_000);
      expect((await store.stat(a))!.id).toBe(a);
      expect(await store.delete(a)).toBe(true);
      expect(await store.delete(a)).toBe(false);
      expect(await store.stat(a)).toBeNull();
      await expect(store.get(a)).rejects.toBeInstanceOf(BlobNotFoundError);
      const left: string[] = [];
      for await (const e of store.list()) left.push(e.id);
      expect(left).toEqual([b]);
    });

    it('keeps a blob modified since the collector looked, and a re-stored blob is fresh again', async () => {
      const { store } = make();
      const id = await store.put(bytes('re-referenced'));
      const first = (await store.stat(id))!.modifiedAt;
      // A deletion conditioned on "not modified since before it was written" leaves it alone.
      expect(await store.delete(id, { unlessModifiedSince: new Date(first.getTime() - 5000) })).toBe(false);
      expect(await store.has(id)).toBe(true);
      await new Promise((r) => setTimeout(r, 1100)); // S3's LastModified has 1 s resolution
      const cutoff = new Date();
      expect(await store.put(bytes('re-referenced'))).toBe(id);
      expect((await store.stat(id))!.modifiedAt.getTime()).toBeGreaterThanOrEqual(cutoff.getTime() - 999);
      expect(await store.delete(id, { unlessModifiedSince: new Date(cutoff.getTime() - 999) })).toBe(false);
      expect(await store.delete(id, { unlessModifiedSince: new Date(Date.now() + 5000) })).toBe(true);
      expect(await store.has(id)).toBe(false);
    });

    it('keeps records beside the blobs, which listings of blobs do not show', async () => {
      const { store } = make();
      const r = store.records;
      expect(await r.get('pins/x.json')).toBeNull();
      await r.put('pins/x.json', bytes('{"a":1}'));
      await r.put('pins/x.json', bytes('{"a":2}'));
      await r.put('index/g1.json', bytes('{}'));
      expect(new TextDecoder().decode(await r.get('pins/x.json'))).toBe('{"a":2}');
      const keys: string[] = [];
      for await (const k of r.list('pins/')) keys.push(k);
      expect(keys).toEqual(['pins/x.json']);
      const blobs: string[] = [];
      for await (const e of store.list()) blobs.push(e.id);
      expect(blobs).toEqual([]);
      expect(await r.delete('pins/x.json')).toBe(true);
      expect(await r.delete('pins/x.json')).toBe(false);
      await expect(r.get('../escape')).rejects.toBeInstanceOf(InvalidRecordKeyError);
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

  contract('S3 (brotli at rest)', () => {
    const prefix = `run-${n++}/`;
    const store = new S3BlobStore({ bucket: 'oneflow-test', prefix, compression: 'brotli', client: config() });
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

describe('compression at rest', () => {
  // A checkpoint-like body: a header, then float32 values with structure (a smooth image).
  const body = new Uint8Array(new Float32Array(Array.from({ length: 4096 }, (_, i) => Math.round(Math.sin(i / 50) * 64) / 64)).buffer);
  const blob = new Uint8Array([...bytes('OFCK'), ...body]);

  for (const compression of ['deflate', 'brotli'] as const) {
    it(`${compression}: ids and reads are those of the uncompressed bytes; uncompressed blobs still read`, async () => {
      const dir = mkdtempSync(path.join(root, `z-${compression}-`));
      const store = new LocalBlobStore(dir, { compression });
      const id = await store.put(blob);
      expect(id).toBe(blobId(blob));
      expect(Buffer.from(await store.get(id)).equals(Buffer.from(blob))).toBe(true);
      const onDisk = readFileSync(path.join(dir, id.slice(0, 2), id));
      expect(onDisk.length).toBeLessThan(blob.length / 2);
      expect((await store.stat(id))!.size).toBe(onDisk.length);
      // A blob written before compression (raw bytes) is read by the same store.
      const legacy = bytes('OFCK written by an older build');
      const legacyId = await new LocalBlobStore(dir).put(legacy);
      expect(new TextDecoder().decode(await store.get(legacyId))).toBe('OFCK written by an older build');
      // And a damaged envelope is a corrupt blob, not a crash.
      writeFileSync(path.join(dir, id.slice(0, 2), id), onDisk.subarray(0, 40));
      await expect(store.get(id)).rejects.toBeInstanceOf(BlobCorruptError);
    });
  }

  it('stores incompressible bytes as they are, and wraps bytes that look like an envelope', async () => {
    const noise = new Uint8Array(randomBytes(2000));
    expect(packBlob(noise, 'brotli')).toBe(noise);
    const tricky = bytes('OFZb not an envelope');
    const store = new LocalBlobStore(mkdtempSync(path.join(root, 'z-tricky-')));
    expect(new TextDecoder().decode(await store.get(await store.put(tricky)))).toBe('OFZb not an envelope');
  });
});
