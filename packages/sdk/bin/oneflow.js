#!/usr/bin/env node
// `oneflow generate --api URL …`: generation through the OneFlow API with the SDK. Registers tsx
// (the workspace runs TypeScript sources) and runs src/cli.ts. The in-process generator (no API)
// is packages/runtime/bin/oneflow.js.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.env.INIT_CWD ?? process.cwd(),
  env: process.env,
});
