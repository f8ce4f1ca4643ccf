import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR } from '../testing/histories.js';
import { workflowsPath } from '../worker.js';

// Histories recorded from real runs: `RECORD_HISTORIES=1 vitest run apps/worker/src/workflows/generation.test.ts`.

// Determinism guard: a change to the workflow code that would break running generations (a
// reordered activity call, a new timer…) fails here, before it is deployed.
describe('recorded workflow histories', () => {
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

  it('are present', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it('replay on the current workflow code without nondeterminism', async () => {
    const histories = files.map((f) => ({
      workflowId: f,
      history: JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')) as unknown,
    }));
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'recorded' }, histories)) {
      if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
