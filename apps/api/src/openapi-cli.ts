// Writes the OpenAPI document: `node --import tsx apps/api/src/openapi-cli.ts docs/openapi.json`
// (`pnpm --filter @oneflow/api openapi`); docs/openapi.json is checked against the router by openapi.test.ts.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openApiDocument } from './openapi.js';

const out = process.argv[2];
const text = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
if (out) {
  writeFileSync(path.resolve(process.env.INIT_CWD ?? process.cwd(), out), text);
  console.log(`wrote ${out}`);
} else process.stdout.write(text);
