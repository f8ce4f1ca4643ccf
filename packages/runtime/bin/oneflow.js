#!/usr/bin/env node
// The `oneflow` command: registers tsx (the workspace runs TypeScript sources) and runs src/cli.ts.
import { register } from 'tsx/esm/api';

if (process.argv.includes('--api') || process.argv.some((a) => a.startsWith('--api='))) {
  // Generating through the API is the SDK's `oneflow` (the sampler must not depend on the SDK).
  process.stderr.write(
    'oneflow: this is the in-process generator; to generate through the API run\n  node packages/sdk/bin/oneflow.js generate --api URL --prompt TEXT [--out DIR]\n',
  );
  process.exit(2);
}
register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.env.INIT_CWD ?? process.cwd(),
}); // INIT_CWD: where `pnpm oneflow …` was typed
