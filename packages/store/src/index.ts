export * from './blob-store.js';
export { COMPRESSIONS, packBlob, unpackBlob, type Compression } from './compression.js';
export { LocalBlobStore, LocalRecordStore } from './local.js';
export { S3BlobStore, type S3BlobStoreOptions } from './s3.js';
export { storeFromSettings, type StoreSettings } from './from-env.js';
