import type { Model } from '@oneflow/sdk/browser';

/** A sampler parameter as the form shows it: generated from the request schema and the model's defaults. */
export interface ParamField {
  name: 'steps' | 'guidance' | 'imageGuidance' | 'temperature' | 'topK' | 'seed';
  label: string;
  help: string;
  integer: boolean;
  min: number | null;
  max: number | null;
  /** True when `min` itself is not allowed (temperature > 0). */
  exclusiveMin: boolean;
  /** The model's default (the request's schema default for the seed). */
  defaultValue: number;
}

/** A JSON-schema property as the OpenAPI document writes zod's bounds. */
interface SchemaProperty {
  type?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  default?: unknown;
}

const ORDER: { name: ParamField['name']; label: string; help: string }[] = [
  { name: 'steps', label: 'Steps', help: 'steps of each clock (text and every image)' },
  { name: 'guidance', label: 'Guidance', help: 'text guidance against the prompt-free twin (1 = off)' },
  { name: 'imageGuidance', label: 'Image guidance', help: 'image guidance against the text-free twin (1 = off)' },
  { name: 'temperature', label: 'Temperature', help: 'token sampling temperature' },
  { name: 'topK', label: 'Top-k', help: 'sample among the k likeliest tokens (0 = all)' },
  { name: 'seed', label: 'Seed', help: 'same seed, same request: same result' },
];

/** The create request's schema in the API's OpenAPI document (`GET /openapi.json`). */
export function createRequestSchema(openapi: unknown): Record<string, SchemaProperty> {
  const doc = openapi as {
    paths?: Record<
      string,
      { post?: { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, SchemaProperty> } }> } } }
    >;
  };
  return doc.paths?.['/generations']?.post?.requestBody?.content?.['application/json']?.schema?.properties ?? {};
}

/** The parameter form for `model`: bounds from the request schema, defaults from the model's info. */
export function paramFields(schema: Record<string, SchemaProperty>, model: Model): ParamField[] {
  return ORDER.filter((o) => o.name in schema || o.name in model.defaults).map((o) => {
    const p = schema[o.name] ?? {};
    const fromModel = (model.defaults as Record<string, number | undefined>)[o.name];
    const schemaDefault = typeof p.default === 'number' ? p.default : 0;
    return {
      ...o,
      integer: p.type === 'integer',
      min: p.minimum ?? p.exclusiveMinimum ?? null,
      max: p.maximum ?? null,
      exclusiveMin: p.exclusiveMinimum !== undefined && p.minimum === undefined,
      defaultValue: fromModel ?? schemaDefault,
    };
  });
}

/**
 * The form's values as request fields: blank means "the model's default" (left out); anything else
 * is sent as typed (a number, or the text itself, so the API can say what is wrong with it).
 */
export function paramValues(fields: readonly ParamField[], raw: Record<string, string>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const f of fields) {
    const text = (raw[f.name] ?? '').trim();
    if (text === '') continue;
    const n = Number(text);
    out[f.name] = Number.isFinite(n) ? n : text;
  }
  return out;
}
