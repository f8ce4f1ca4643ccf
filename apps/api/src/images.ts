import type { IncomingMessage, ServerResponse } from 'node:http';
import { TRPCError } from '@trpc/server';
import type { KeyRing } from './auth.js';
import type { InnerContext } from './context.js';
import { describeOwned, newestCheckpointId } from './services/ownership.js';
import { collectedError, stepSnapshot } from './services/retention.js';
import { workflowsOf } from './trpc.js';

const ROUTE = /^\/generations\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\/images\/(\d{1,3})\.png$/;

const HTTP_STATUS: Partial<Record<TRPCError['code'], number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  PRECONDITION_FAILED: 412,
  TOO_MANY_REQUESTS: 429,
};

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** True when `url` is a PNG route (`/generations/:id/images/:k.png`). */
export function isImageRoute(pathname: string): boolean {
  return ROUTE.test(pathname);
}

/**
 * `GET /generations/:id/images/:k.png[?step=N]`: generated image k of a generation at its newest
 * checkpoint, or at step N (a preview), as an 8-bit grayscale PNG. Same keys and limits as tRPC.
 */
export async function handleImage(req: IncomingMessage, res: ServerResponse, inner: InnerContext, keys: KeyRing): Promise<void> {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: 'GET only' });
    const url = new URL(req.url ?? '/', 'http://x');
    const m = ROUTE.exec(url.pathname);
    if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: 'no such route' });
    const [, id, kText] = m as unknown as [string, string, string];
    const principal = keys.authenticate(req.headers.authorization);
    if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'a valid API key is required (Authorization: Bearer <key>)' });
    const jobs = inner.jobs;
    if (!jobs) throw new TRPCError({ code: 'NOT_FOUND', message: 'no job API here' });
    if (!jobs.limiter.take(principal.keyId, principal.ratePerMinute))
      throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: 'rate limit exceeded' });
    const stepText = url.searchParams.get('step');
    if (stepText !== null && !/^\d{1,6}$/.test(stepText))
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'step must be a non-negative integer' });
    const d = await describeOwned(workflowsOf(inner), principal.tenant, id, 'generation');
    const newest = newestCheckpointId(d);
    if (!newest) throw new TRPCError({ code: 'NOT_FOUND', message: `generation ${id} has no checkpoint yet` });
    let checkpointId = newest;
    if (stepText !== null) {
      const at = await stepSnapshot({ jobs }, d, Number(stepText));
      if (!at) throw new TRPCError({ code: 'NOT_FOUND', message: `generation ${id} has no checkpoint at step ${stepText}` });
      checkpointId = at.checkpointId;
    } else if (!(await jobs.checkpoints.snapshot(newest))) {
      const head = d.memo.headCheckpointId;
      if (!head || !(await jobs.checkpoints.snapshot(head))) throw collectedError(id);
      checkpointId = head; // a heartbeat checkpoint lost with its machine
    }
    const png = await jobs.checkpoints.png(checkpointId, Number(kText));
    if (!png) throw new TRPCError({ code: 'NOT_FOUND', message: `generation ${id} has no image ${kText} at that step` });
    res.writeHead(200, {
      'content-type': 'image/png',
      'content-length': png.length,
      // A checkpoint never changes: a step's preview is immutable, the newest image is not.
      'cache-control': stepText !== null ? 'private, max-age=31536000, immutable' : 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : png);
  } catch (error) {
    if (error instanceof TRPCError) {
      if (error.code === 'METHOD_NOT_SUPPORTED') res.setHeader('allow', 'GET, HEAD');
      send(res, HTTP_STATUS[error.code] ?? 400, { error: { code: error.code, message: error.message } });
      return;
    }
    send(res, 500, { error: { code: 'INTERNAL_SERVER_ERROR', message: 'internal error' } });
    throw error;
  }
}
