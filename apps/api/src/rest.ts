import type { IncomingMessage, ServerResponse } from 'node:http';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { Logger } from 'pino';
import { ZodError, type z } from 'zod';
import type { KeyRing } from './auth.js';
import { createContextFactory, type InnerContext } from './context.js';
import { appRouter } from './routers/_app.js';

interface Route {
  method: string;
  pattern: RegExp;
  params: string[];
  path: string;
  input: z.ZodType | undefined;
}

type Procedure = { _def: { type: string; meta?: OpenApiMeta; inputs: z.ZodType[] } };

/** The REST routes of the OpenAPI document, from the procedures' `meta.openapi` (static paths first). */
function routes(): Route[] {
  const out: Route[] = [];
  for (const [path, p] of Object.entries(appRouter._def.procedures as unknown as Record<string, Procedure>)) {
    const o = p._def.meta?.openapi;
    if (!o || p._def.type === 'subscription') continue;
    const params: string[] = [];
    const source = o.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, (_, name: string) => {
      params.push(name);
      return '([^/]+)';
    });
    out.push({ method: o.method, pattern: new RegExp(`^${source}$`), params, path, input: p._def.inputs[0] });
  }
  return out.sort((a, b) => a.params.length - b.params.length);
}

/** Whether field `key` of an object schema is a number (query strings carry text). */
function isNumberField(schema: z.ZodType | undefined, key: string): boolean {
  let s = schema as unknown as { _zod?: { def: { type: string; innerType?: unknown; shape?: Record<string, unknown> } } } | undefined;
  const unwrap = () => {
    while (s?._zod && ['optional', 'default', 'nullable', 'prefault'].includes(s._zod.def.type)) s = s._zod.def.innerType as typeof s;
  };
  unwrap();
  s = s?._zod?.def.shape?.[key] as typeof s;
  unwrap();
  return s?._zod?.def.type === 'number';
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `request bodies are at most ${limit} bytes` });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new TRPCError({ code: 'PARSE_ERROR', message: 'the body is not JSON' });
  }
}

/**
 * Serves the procedures as the REST routes the OpenAPI document describes (under `/api`): path
 * parameters and the query (GET) or JSON body (POST) form the input; the procedure runs through
 * `createCaller` with the same context (key, tenant, rate limit) and validation as tRPC. Query
 * strings are converted to numbers only for number fields; nothing else is coerced.
 */
export function createRestHandler(options: { inner: InnerContext; keys: KeyRing; logger: Logger; maxBodyBytes: number }) {
  const table = routes();
  const context = createContextFactory(options.inner, options.keys);
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      let found: { route: Route; match: RegExpExecArray } | null = null;
      let otherMethod = false;
      for (const route of table) {
        const match = route.pattern.exec(pathname);
        if (!match) continue;
        if (route.method !== req.method) {
          otherMethod = true;
          continue;
        }
        found = { route, match };
        break;
      }
      if (!found)
        throw new TRPCError({
          code: otherMethod ? 'METHOD_NOT_SUPPORTED' : 'NOT_FOUND',
          message: otherMethod ? `${req.method} is not supported here` : 'no such route',
        });
      const { route, match } = found;
      let input: Record<string, unknown> = {};
      if (req.method === 'GET') {
        for (const [k, v] of url.searchParams) input[k] = isNumberField(route.input, k) && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      } else {
        const ct = req.headers['content-type'] ?? '';
        if (req.headers['content-length'] !== '0' && !ct.startsWith('application/json'))
          throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' });
        const body = await readJson(req, options.maxBodyBytes);
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw new TRPCError({ code: 'BAD_REQUEST', message: 'the body is a JSON object' });
        input = body as Record<string, unknown>;
      }
      route.params.forEach((name, i) => (input[name] = decodeURIComponent(match[i + 1]!)));
      const caller = appRouter.createCaller(context({ req })) as unknown as Record<
        string,
        Record<string, (input: unknown) => Promise<unknown>>
      >;
      const [noun, verb] = route.path.includes('.') ? route.path.split('.') : [route.path, undefined];
      const fn = verb === undefined ? (caller[noun] as unknown as (input: unknown) => Promise<unknown>) : caller[noun]![verb]!;
      send(res, 200, await fn(input));
    } catch (error) {
      const e = error instanceof TRPCError ? error : new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error });
      if (e.code === 'INTERNAL_SERVER_ERROR') options.logger.error({ path: pathname, err: e }, 'REST route failed');
      const issues =
        e.cause instanceof ZodError ? e.cause.issues.map((i) => ({ message: `${i.path.join('.')}: ${i.message}` })) : undefined;
      send(res, getHTTPStatusCodeFromError(e), {
        code: e.code,
        message: issues ? 'invalid input' : e.code === 'INTERNAL_SERVER_ERROR' ? 'internal server error' : e.message,
        ...(issues ? { issues } : {}),
      });
    }
  };
}
