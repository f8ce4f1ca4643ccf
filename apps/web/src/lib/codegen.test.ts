import { describe, expect, it } from 'vitest';
import { curlSnippet, sdkSnippet, shellQuote } from './codegen.js';
import { codeOf, fieldErrors } from './errors.js';
import { isPng, readPng, toBase64 } from './png.js';

const BASE = 'http://127.0.0.1:3000';

describe('copy as SDK code / curl', () => {
  it('writes a create call both ways, eliding input images', () => {
    const call = { procedure: 'generations.create' as const, input: { model: 'm', prompt: "it's two", steps: 8, images: ['AAAA'] } };
    const sdk = sdkSnippet(call, BASE);
    expect(sdk).toContain(`createClient({ baseUrl: "${BASE}", apiKey: process.env.ONEFLOW_API_KEY })`);
    expect(sdk).toContain('await client.generations.create({');
    expect(sdk).toContain('"<base64 PNG 1>"');
    const curl = curlSnippet(call, BASE);
    expect(curl).toContain(`curl -X POST -H "authorization: Bearer $ONEFLOW_API_KEY" -H 'content-type: application/json'`);
    expect(curl).toContain(`'{"model":"m","prompt":"it'\\''s two","steps":8,"images":["<base64 PNG 1>"]}'`);
    expect(curl.endsWith(`'${BASE}/api/generations'`)).toBe(true);
  });

  it('puts ids in the path and list filters in the query', () => {
    expect(curlSnippet({ procedure: 'generations.cancel', input: { id: 'gen-1' } }, BASE)).toBe(
      `curl -X POST -H "authorization: Bearer $ONEFLOW_API_KEY" '${BASE}/api/generations/gen-1/cancel'`,
    );
    expect(curlSnippet({ procedure: 'generations.list', input: { state: 'running', limit: 20 } }, BASE)).toBe(
      `curl -H "authorization: Bearer $ONEFLOW_API_KEY" '${BASE}/api/generations?state=running&limit=20'`,
    );
    expect(sdkSnippet({ procedure: 'generations.get', input: { id: 'gen-1' } }, BASE)).toContain('client.generations.get("gen-1")');
    expect(curlSnippet({ procedure: 'generations.watch', input: { id: 'gen-1' } }, BASE)).toContain(
      `/trpc/generations.watch?input=${encodeURIComponent('{"id":"gen-1"}')}`,
    );
  });

  it('quotes anything for a POSIX shell', () => {
    expect(shellQuote(`a'b`)).toBe(`'a'\\''b'`);
  });
});

describe('API refusals next to their fields', () => {
  it('maps zod issues by path and engine sentences by what they name', () => {
    const zod = new Error(JSON.stringify([{ code: 'too_big', path: ['steps'], message: 'Too big: expected number to be <=1024' }]));
    expect(fieldErrors(zod)).toEqual([{ field: 'steps', message: 'Too big: expected number to be <=1024' }]);
    const nested = new Error(JSON.stringify([{ path: ['overrides', 'seed'], message: 'Too small' }]));
    expect(fieldErrors(nested, 'overrides')).toEqual([{ field: 'seed', message: 'Too small' }]);
    expect(fieldErrors(new Error("word 'banana' is not in the model's vocabulary"))[0]!.field).toBe('prompt');
    expect(fieldErrors(new Error('input image 0 is not a readable PNG'))[0]!.field).toBe('images');
    expect(fieldErrors(new Error('something else'))[0]!.field).toBeNull();
    expect(codeOf({ data: { code: 'BAD_REQUEST' } })).toBe('BAD_REQUEST');
  });
});

describe('PNG attachments', () => {
  it('accepts PNG bytes and refuses anything else with a reason', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    expect(isPng(png)).toBe(true);
    expect(toBase64(png)).toBe(Buffer.from(png).toString('base64'));
    const ok = await readPng({ name: 'a.png', type: 'image/png', arrayBuffer: async () => png.buffer });
    expect(ok).toMatchObject({ name: 'a.png', base64: Buffer.from(png).toString('base64') });
    const jpeg = await readPng({ name: 'b.jpg', type: 'image/jpeg', arrayBuffer: async () => new Uint8Array([0xff, 0xd8, 0xff]).buffer });
    expect(jpeg).toEqual({ error: 'b.jpg is not a PNG file (image/jpeg): images must be PNG' });
  });
});
