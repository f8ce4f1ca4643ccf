#!/usr/bin/env node
// The `oneflow` command: registers tsx (the workspace runs TypeScript sources) and runs src/cli.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.env.INIT_CWD ?? process.cwd() }); // INIT_CWD: where `pnpm oneflow …` was typed
