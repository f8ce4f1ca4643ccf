const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when the bytes start with the PNG signature (what the API accepts as input images). */
export function isPng(bytes: Uint8Array): boolean {
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Base64 of bytes (what `images` in a request carries). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export interface Attachment {
  name: string;
  base64: string;
  /** A data: URL of the file, for its thumbnail. */
  url: string;
}

/** Reads a dropped or chosen file: a PNG becomes an attachment; anything else a message saying why not. */
export async function readPng(file: {
  name: string;
  type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}): Promise<Attachment | { error: string }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (!isPng(bytes)) return { error: `${file.name} is not a PNG file${file.type ? ` (${file.type})` : ''}: images must be PNG` };
  const base64 = toBase64(bytes);
  return { name: file.name, base64, url: `data:image/png;base64,${base64}` };
}
