/** A call as it is on screen: which procedure, with what input. */
export type ApiCall =
  | { procedure: 'generations.create'; input: Record<string, unknown> }
  | { procedure: 'generations.get' | 'generations.cancel' | 'generations.resume' | 'generations.lineage'; input: { id: string } }
  | { procedure: 'generations.branch' | 'generations.refine'; input: Record<string, unknown> }
  | { procedure: 'generations.list'; input: Record<string, unknown> }
  | { procedure: 'generations.watch'; input: { id: string } }
  | { procedure: 'batches.get' | 'batches.cancel'; input: { id: string } }
  | { procedure: 'batches.list'; input: Record<string, unknown> }
  | { procedure: 'models.list'; input: Record<string, never> };

type Procedure = ApiCall['procedure'];

/** REST routes of the OpenAPI document (docs/openapi.json): method, path template, SDK method. */
const ROUTES: Record<Exclude<Procedure, 'generations.watch'>, { method: 'GET' | 'POST'; path: string; sdk: string }> = {
  'generations.create': { method: 'POST', path: '/generations', sdk: 'generations.create' },
  'generations.get': { method: 'GET', path: '/generations/{id}', sdk: 'generations.get' },
  'generations.list': { method: 'GET', path: '/generations', sdk: 'generations.list' },
  'generations.cancel': { method: 'POST', path: '/generations/{id}/cancel', sdk: 'generations.cancel' },
  'generations.resume': { method: 'POST', path: '/generations/{id}/resume', sdk: 'generations.resume' },
  'generations.branch': { method: 'POST', path: '/generations/branch', sdk: 'generations.branch' },
  'generations.refine': { method: 'POST', path: '/generations/refine', sdk: 'generations.refine' },
  'generations.lineage': { method: 'GET', path: '/generations/{id}/lineage', sdk: 'generations.lineage' },
  'batches.get': { method: 'GET', path: '/batches/{id}', sdk: 'batches.get' },
  'batches.list': { method: 'GET', path: '/batches', sdk: 'batches.list' },
  'batches.cancel': { method: 'POST', path: '/batches/{id}/cancel', sdk: 'batches.cancel' },
  'models.list': { method: 'GET', path: '/models', sdk: 'models.list' },
};

/** Single-quoted for a POSIX shell: safe for any text. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Input images are long base64 strings: shown shortened in code, with a note. */
function displayInput(input: Record<string, unknown>): { value: Record<string, unknown>; elided: boolean } {
  const images = input['images'];
  if (Array.isArray(images) && images.length > 0) {
    return { value: { ...input, images: images.map((_, i) => `<base64 PNG ${i + 1}>`) }, elided: true };
  }
  return { value: input, elided: false };
}

/** TypeScript with the SDK (`@oneflow/sdk`) doing what is on screen. */
export function sdkSnippet(call: ApiCall, baseUrl: string): string {
  const { value, elided } = displayInput(call.input);
  const head = [
    `import { createClient } from '@oneflow/sdk';`,
    ``,
    `const client = createClient({ baseUrl: ${JSON.stringify(baseUrl)}, apiKey: process.env.ONEFLOW_API_KEY });`,
  ];
  if (elided) head.push(`// images: base64-encoded PNG files, e.g. readFileSync('digit.png').toString('base64')`);
  const json = JSON.stringify(value, null, 2);
  let body: string;
  if (call.procedure === 'generations.watch') {
    body = `for await (const e of client.generations.watch(${JSON.stringify(call.input.id)})) console.log(e.step, e.state, e.text);`;
  } else if (call.procedure === 'models.list') {
    body = `const models = await client.models.list();`;
  } else if ('id' in call.input && Object.keys(call.input).length === 1 && call.procedure !== 'generations.list') {
    body = `const result = await client.${ROUTES[call.procedure].sdk}(${JSON.stringify(call.input.id)});`;
  } else {
    body = `const result = await client.${ROUTES[call.procedure].sdk}(${json});`;
  }
  return [...head, body].join('\n');
}

/** The same as curl against the REST routes under `/api` (watch: the tRPC SSE route). */
export function curlSnippet(call: ApiCall, baseUrl: string): string {
  const auth = `-H "authorization: Bearer $ONEFLOW_API_KEY"`;
  const { value, elided } = displayInput(call.input);
  const note = elided ? `# images: base64-encoded PNG files (base64 -w0 digit.png)\n` : '';
  if (call.procedure === 'generations.watch') {
    const q = encodeURIComponent(JSON.stringify({ id: call.input.id }));
    return `curl -N ${auth} ${shellQuote(`${baseUrl}/trpc/generations.watch?input=${q}`)}`;
  }
  const route = ROUTES[call.procedure];
  const input = { ...value };
  const path = route.path.replace('{id}', () => {
    const id = String(input['id']);
    delete input['id'];
    return encodeURIComponent(id);
  });
  if (route.method === 'GET') {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(input))
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') if (v !== '') params.set(k, String(v));
    const qs = params.toString();
    return `${note}curl ${auth} ${shellQuote(`${baseUrl}/api${path}${qs ? `?${qs}` : ''}`)}`;
  }
  const body = Object.keys(input).length > 0 ? ` -H 'content-type: application/json' -d ${shellQuote(JSON.stringify(input))}` : '';
  return `${note}curl -X POST ${auth}${body} ${shellQuote(`${baseUrl}/api${path}`)}`;
}
