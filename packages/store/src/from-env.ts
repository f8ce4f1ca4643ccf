import path from 'node:path';
import type { BlobStore, IdOf } from './blob-store.js';
import type { Compression } from './compression.js';
import { LocalBlobStore } from './local.js';
import { S3BlobStore } from './s3.js';

/** The checkpoint store settings shared by the worker and the API (their `ONEFLOW_*` variables). */
export interface StoreSettings {
  ONEFLOW_DATA_DIR: string;
  ONEFLOW_S3_BUCKET?: string | undefined;
  ONEFLOW_S3_PREFIX: string;
  ONEFLOW_S3_ENDPOINT?: string | undefined;
  ONEFLOW_S3_REGION: string;
  /** Compression of new blobs at rest (`none` when unset; every kind is read). */
  ONEFLOW_CHECKPOINT_COMPRESSION?: Compression | undefined;
}

/**
 * S3 (credentials from the standard AWS environment) when `ONEFLOW_S3_BUCKET` is set, else the
 * local directory `<ONEFLOW_DATA_DIR>/checkpoints`; blob ids from `idOf`.
 */
export function storeFromSettings(settings: StoreSettings, idOf?: IdOf): BlobStore {
  const ids = {
    ...(idOf ? { idOf } : {}),
    ...(settings.ONEFLOW_CHECKPOINT_COMPRESSION ? { compression: settings.ONEFLOW_CHECKPOINT_COMPRESSION } : {}),
  };
  if (settings.ONEFLOW_S3_BUCKET) {
    return new S3BlobStore({
      bucket: settings.ONEFLOW_S3_BUCKET,
      prefix: settings.ONEFLOW_S3_PREFIX,
      ...ids,
      client: {
        region: settings.ONEFLOW_S3_REGION,
        ...(settings.ONEFLOW_S3_ENDPOINT ? { endpoint: settings.ONEFLOW_S3_ENDPOINT, forcePathStyle: true } : {}),
      },
    });
  }
  return new LocalBlobStore(path.resolve(settings.ONEFLOW_DATA_DIR, 'checkpoints'), ids);
}
