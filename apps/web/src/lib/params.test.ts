import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Model } from '@oneflow/sdk/browser';
import { REPO_ROOT } from '@oneflow/devstack';
import { describe, expect, it } from 'vitest';
import { createRequestSchema, paramFields, paramValues } from './params.js';

// The form is generated from the API's own OpenAPI document (the file the API serves as /openapi.json).
const openapi: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs', 'openapi.json'), 'utf8'));
const model: Model = {
  name: 'tiny-model',
  format: 'oneflow-v1',
  imageShape: [1, 28, 28],
  latentShape: [1, 28, 28],
  tokenizer: 'word',
  maxTokens: 40,
  maxImages: 6,
  defaults: { steps: 32, guidance: 1, imageGuidance: 2, temperature: 0.3, topK: 0 },
  vocabulary: ['two'],
};

describe('parameter form from the schema and the model', () => {
  it('has every sampler parameter with the schema bounds and the model defaults', () => {
    const fields = paramFields(createRequestSchema(openapi), model);
    expect(fields.map((f) => f.name)).toEqual(['steps', 'guidance', 'imageGuidance', 'temperature', 'topK', 'seed']);
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(byName['steps']).toMatchObject({ integer: true, min: 1, max: 1024, defaultValue: 32 });
    expect(byName['temperature']).toMatchObject({ integer: false, min: 0, exclusiveMin: true, max: 10, defaultValue: 0.3 });
    expect(byName['imageGuidance']).toMatchObject({ defaultValue: 2, max: 20 });
    expect(byName['seed']).toMatchObject({ integer: true, min: 0, max: 2 ** 32 - 1, defaultValue: 0 });
  });

  it('leaves blank fields to the model and passes typed values on for the API to judge', () => {
    const fields = paramFields(createRequestSchema(openapi), model);
    expect(paramValues(fields, { steps: '8', guidance: '', temperature: 'hot', seed: ' 3 ' })).toEqual({
      steps: 8,
      temperature: 'hot',
      seed: 3,
    });
  });
});
