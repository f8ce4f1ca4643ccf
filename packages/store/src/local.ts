import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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
  type PutOptions,
  type RecordStore,
} from './blob-store.js';
import { packBlob, unpackBlob, type Compression } from './compression.js';

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** Writes `bytes` to `target` atomically: a temporary file beside it, (fsync,) rename. */
async function writeAtomic(target: string, bytes: Uint8Array, durable: boolean): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(tmp, 'wx');
  try {
    await handle.writeFile(bytes);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, target);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Blobs as files under `root/<id[0:2]>/<id>`: the embedded default (under the data dir).
 * Writes are atomic: a temporary file in the same directory is written, fsynced and renamed, so a
 * crash leaves either the whole blob or none under its name (stray `*.tmp-*` files are ignored).
 * Records live under `root/_records/`.
 */
export class LocalBlobStore implements BlobStore {
  readonly location: string;
  readonly records: RecordStore;
  private readonly idOf: IdOf;
  private readonly compression: Compression;
  constructor(
    private readonly root: string,
    options: { idOf?: IdOf; compression?: Compression } = {},
  ) {
    this.location = pathToFileURL(root).href;
    this.idOf = options.idOf ?? blobId;
    this.compression = options.compression ?? 'none';
    this.records = new LocalRecordStore(path.join(root, '_records'));
  }

  private file(id: string): string {
    return path.join(this.root, id.slice(0, 2), id);
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<string> {
    const id = this.idOf(bytes);
    const target = this.file(id);
    // Immutable: same id, same content. Storing it again refreshes its modification time, which
    // is what keeps a blob that a writer has just re-referenced from the garbage collector.
    try {
      const now = new Date();
      await utimes(target, now, now);
      return id;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    await writeAtomic(target, packBlob(bytes, this.compression), options.durable ?? true);
    return id;
  }

  async persist(id: string): Promise<void> {
    assertBlobId(id);
    let handle;
    try {
      handle = await open(this.file(id), 'r');
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(id, this.location);
      throw error;
    }
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async get(id: string): Promise<Uint8Array> {
    assertBlobId(id);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(id));
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(id, this.location);
      throw error;
    }
    let body: Uint8Array;
    try {
      body = unpackBlob(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (error) {
      throw new BlobCorruptError(id, `(unreadable: ${(error as Error).message})`, this.location);
    }
    return verified(id, body, this.location, this.idOf);
  }

  async has(id: string): Promise<boolean> {
    assertBlobId(id);
    try {
      return (await stat(this.file(id))).isFile();
    } catch {
      return false;
    }
  }

  async stat(id: string): Promise<BlobEntry | null> {
    assertBlobId(id);
    try {
      const s = await stat(this.file(id));
      return s.isFile() ? { id, size: s.size, modifiedAt: s.mtime } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async *list(): AsyncIterable<BlobEntry> {
    let shards;
    try {
      shards = await opendir(this.root);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for await (const shard of shards) {
      if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
      let files;
      try {
        files = await opendir(path.join(this.root, shard.name));
      } catch (error) {
        if (isMissing(error)) continue;
        throw error;
      }
      for await (const f of files) {
        if (!f.isFile() || !isBlobId(f.name) || !f.name.startsWith(shard.name)) continue;
        const entry = await this.stat(f.name);
        if (entry) yield entry;
      }
    }
  }

  /**
   * Moves the blob aside (an atomic rename), then checks the moved file's modification time: a
   * writer that refreshed it before the move wins and the blob goes back; one that comes after
   * the move finds no file and writes the blob anew. Either way a re-stored blob survives.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<boolean> {
    assertBlobId(id);
    const target = this.file(id);
    const aside = `${target}.tmp-gc-${randomBytes(6).toString('hex')}`;
    try {
      await rename(target, aside);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    const since = options.unlessModifiedSince;
    if (since && (await stat(aside)).mtime.getTime() >= since.getTime()) {
      // Back under its name, unless a writer has already stored it again (then this copy is surplus).
      if (await this.has(id)) await rm(aside, { force: true });
      else await rename(aside, target);
      return false;
    }
    await rm(aside, { force: true });
    return true;
  }
}

/** Records as files under a directory (atomic replace by rename). */
export class LocalRecordStore implements RecordStore {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    assertRecordKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.file(key)));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await writeAtomic(this.file(key), bytes, true);
  }

  async delete(key: string): Promise<boolean> {
    try {
      await rm(this.file(key));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const walk = async function* (dir: string, rel: string): AsyncIterable<string> {
      let entries;
      try {
        entries = await opendir(dir);
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for await (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) yield* walk(path.join(dir, e.name), key);
        else if (e.isFile() && !e.name.includes('.tmp-') && key.startsWith(prefix)) yield key;
      }
    };
    yield* walk(this.root, '');
  }
}
