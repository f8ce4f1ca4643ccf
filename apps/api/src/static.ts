import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `infra/dev/setup` builds the playground (`apps/web`, `vite build`). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only what this origin serves (no CDN fonts or scripts); images also from blob:
 * URLs (previews fetched with the API key) and data: URLs (uploaded PNGs).
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Paths that belong to the API: never answered with the app's index.html. */
const API_PREFIXES = ['/trpc', '/api', '/openapi.json', '/generations/', '/health'];

export function isApiPath(pathname: string): boolean {
  return API_PREFIXES.some((p) => pathname === p || pathname.startsWith(p.endsWith('/') ? p : `${p}/`));
}

type Handler = (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<void>;

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...extra });
  res.end(text);
}

/**
 * Serves the built web app from `root`: files with their content type; Vite's content-hashed
 * `/assets/*` cached for a year (immutable), everything else revalidated; any other GET without a
 * file extension gets `index.html` (client-side routes such as `/g/<id>`). Paths are decoded,
 * normalised and must resolve (symlinks too) inside `root`; dotfiles are never served.
 */
export function createStaticHandler(root: string): Handler {
  const rootReal = realpath(root).catch(() => null);
  return async (req, res, pathname) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      plain(res, 400, 'bad path');
      return;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) {
      plain(res, 400, 'bad path');
      return;
    }
    const segments = decoded.split('/').filter((s) => s.length > 0);
    if (segments.some((s) => s === '..' || s.startsWith('.'))) {
      plain(res, 404, 'not found');
      return;
    }
    const base = await rootReal;
    if (!base) {
      plain(res, 503, 'The playground is not built: run infra/dev/setup (or pnpm --filter @oneflow/web build).');
      return;
    }
    const file = await resolveInside(base, segments.join('/'));
    if (file) {
      await sendFile(req, res, file, segments[0] === 'assets' && segments.length > 1);
      return;
    }
    // A missing asset is a 404; a path without an extension is a route of the app.
    if (path.posix.extname(decoded) !== '' || isApiPath(`/${segments.join('/')}`)) {
      plain(res, 404, 'not found');
      return;
    }
    const index = await resolveInside(base, 'index.html');
    if (!index) {
      plain(res, 503, 'The playground is not built: run infra/dev/setup (or pnpm --filter @oneflow/web build).');
      return;
    }
    await sendFile(req, res, index, false);
  };
}

/** The regular file `relative` names under `base`, if it exists and its real path stays inside `base`. */
async function resolveInside(base: string, relative: string): Promise<string | null> {
  const candidate = path.resolve(base, relative);
  try {
    const real = await realpath(candidate);
    if (real !== base && !real.startsWith(base + path.sep)) return null;
    const s = await stat(real);
    if (s.isFile()) return real;
    if (s.isDirectory()) return resolveInside(base, path.join(relative, 'index.html'));
    return null;
  } catch {
    return null;
  }
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, immutable: boolean): Promise<void> {
  const s = await stat(file);
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const etag = `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'content-type': type,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    'x-content-type-options': 'nosniff',
  };
  if (type.startsWith('text/html')) {
    headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
    headers['referrer-policy'] = 'no-referrer';
  }
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers['content-length'] = s.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file);
    stream.once('error', reject);
    res.once('close', () => resolve());
    stream.pipe(res);
  });
}
