import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './paths.js';

// Linted as if it were a workflow file: the rule is scoped to apps/worker/src/workflows/**.
const WORKFLOW_FILE = 'apps/worker/src/workflows/smoke.ts';

async function restrictedImportErrors(code: string, filePath = WORKFLOW_FILE): Promise<string[]> {
  const eslint = new ESLint({ cwd: REPO_ROOT });
  const [result] = await eslint.lintText(code, { filePath: `${REPO_ROOT}/${filePath}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('workflow import rule (ESLint no-restricted-imports)', () => {
  it('fails on Node built-ins, onnxruntime-node and the sampler in a workflow file', async () => {
    const errors = await restrictedImportErrors(
      [
        "import { readFileSync } from 'node:fs';",
        "import fs from 'fs';",
        "import { InferenceSession } from 'onnxruntime-node';",
        "import { loadOnnxModel } from '@oneflow/sampler';",
        'export const x = [readFileSync, fs, InferenceSession, loadOnnxModel];',
      ].join('\n'),
    );
    expect(errors).toHaveLength(4);
    expect(errors.join('\n')).toMatch(/deterministic/);
    expect(errors.join('\n')).toMatch(/Workflows must not run models/);
    expect(errors.join('\n')).toMatch(/checkpoint ids only/);
  });

  it('allows @temporalio/workflow, contracts and activity types', async () => {
    const errors = await restrictedImportErrors(
      [
        "import { proxyActivities } from '@temporalio/workflow';",
        "import { GPU_TASK_QUEUE } from '@oneflow/contracts';",
        "import type { Activities } from '../activities/index.js';",
        'export const a = proxyActivities<Activities>({ taskQueue: GPU_TASK_QUEUE, startToCloseTimeout: 1000 });',
      ].join('\n'),
    );
    expect(errors).toEqual([]);
  });

  it('does not apply outside workflow files', async () => {
    expect(
      await restrictedImportErrors("import { readFileSync } from 'node:fs';\nexport const r = readFileSync;", 'apps/worker/src/worker.ts'),
    ).toEqual([]);
  });
});
