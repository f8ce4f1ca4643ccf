import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Workflow histories recorded from real runs, replayed by workflows/replay.test.ts. */
export const HISTORIES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/histories');
