import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertBlobId, blobId, BlobNotFoundError, verified, type BlobStore, type IdOf, type PutOptions } from './blob-store.js';

/**
 * Blobs as files under `root/<id[0:2]>/<id>`: the embedded default (under the data dir).
 * Writes are atomic: a temporary file in the same directory is written, fsynced and renamed, so a
 * crash leaves either the whole blob or none under its name (stray `*.tmp-*` files are ignored).
 */
export class LocalBlobStore implements BlobStore {
  readonly location: string;
  private readonly idOf: IdOf;
  constructor(
    private readonly root: string,
    options: { idOf?: IdOf } = {},
  ) {
    this.location = pathToFileURL(root).href;
    this.idOf = options.idOf ?? blobId;
  }

  private file(id: string): string {
    return path.join(this.root, id.slice(0, 2), id);
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<string> {
    const id = this.idOf(bytes);
    const target = this.file(id);
    if (await this.has(id)) return id; // immutable: same id, same content
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      if (options.durable ?? true) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return id;
  }

  async persist(id: string): Promise<void> {
    assertBlobId(id);
    let handle;
    try {
      handle = await open(this.file(id), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(id, this.location);
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
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(id, this.location);
      throw error;
    }
    return verified(id, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), this.location, this.idOf);
  }

  async has(id: string): Promise<boolean> {
    assertBlobId(id);
    try {
      return (await stat(this.file(id))).isFile();
    } catch {
      return false;
    }
  }
}
