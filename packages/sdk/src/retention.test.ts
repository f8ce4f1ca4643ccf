import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@oneflow/devstack';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Generation } from './index.js';
import { codeOf, KEYS, startStack, type Stack } from './testing/stack.js';

// Retention end to end: a real worker process with the tiny model, the API over HTTP, and the
// admin command (`apps/worker/src/gc-cli.ts`) collecting the store both share.
const execFileAsync = promisify(execFile);
const NAMESPACE = 'test-retention';
let stack: Stack;
let done: Generation;
const request = { model: 'tiny-model', prompt: 'draw a seven', seed: 77, steps: 24, guidance: 2, temperature: 0.7 } as const;

beforeAll(async () => {
  stack = await startStack({ address: inject('temporalAddress'), namespace: NAMESPACE, worker: true });
  const created = await stack.acme.generations.create(request);
  for await (const e of stack.acme.generations.watch(created.id)) if (e.state !== 'running' && e.state !== 'queued') break;
  done = await stack.acme.generations.get(created.id);
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

/** The REST route of a procedure with a tenant's key: status and JSON body. */
async function rest(
  key: string,
  route: string,
  body: unknown,
): Promise<{ status: number; body: { message?: string } & Record<string, unknown> }> {
  const res = await fetch(`${stack.api.baseUrl}/api${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { message?: string } };
}

/** The admin command on the stack's store and namespace, evaluating ages two days from now. */
async function gc(
  ...args: string[]
): Promise<{ blobs: { total: number; kept: number; reclaimed: number }; bytes: { reclaimed: number }; dryRun: boolean }> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', 'apps/worker/src/gc-cli.ts', '--as-of', new Date(Date.now() + 2 * 86_400_000).toISOString(), ...args],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_NAMESPACE: NAMESPACE,
        ONEFLOW_DATA_DIR: stack.dataDir,
        ONEFLOW_RETENTION: JSON.stringify({ keepAllHours: 24, keepEvery: 10 }),
        LOG_LEVEL: 'silent',
      },
    },
  );
  return JSON.parse(stdout) as Awaited<ReturnType<typeof gc>>;
}

describe('retention through the API', () => {
  it('pins a step (tenant-checked), a dry run deletes nothing, a run keeps the final, every 10th and the pinned step', async () => {
    expect(done.state).toBe('succeeded');
    const last = done.step;
    const pin = await rest(KEYS.acme, `/generations/${done.id}/pins`, { step: 5 });
    expect(pin.status).toBe(200);
    expect(pin.body).toMatchObject({ generationId: done.id, step: 5 });
    expect((await rest(KEYS.umbrella, `/generations/${done.id}/pins`, { step: 6 })).status).toBe(404);

    const dry = await gc('--dry-run');
    expect(dry.dryRun).toBe(true);
    expect(dry.blobs.reclaimed).toBeGreaterThan(10);
    expect((await stack.acme.generations.steps({ id: done.id, limit: 500 })).items).toHaveLength(last + 1);

    const run = await gc();
    expect(run.blobs.reclaimed).toBe(dry.blobs.reclaimed);
    expect(run.bytes.reclaimed).toBeGreaterThan(0);
    const expected = [...new Set([0, 5, ...Array.from({ length: last + 1 }, (_, s) => s).filter((s) => s % 10 === 0), last])].sort(
      (a, b) => a - b,
    );
    const page = await stack.acme.generations.steps({ id: done.id, limit: 500 });
    expect(page.items.map((s) => s.step)).toEqual(expected);
    expect(page.items.at(-1)!.checkpointId).toBe(done.checkpointId);
    // The generation itself still reads: its newest checkpoint is kept.
    expect((await stack.acme.generations.get(done.id)).text).toBe(done.text);
  });

  it('answers a collected step with NOT_FOUND "collected by retention": steps, the PNG route, branch, pin', async () => {
    const steps = await stack.acme.generations.steps({ id: done.id, fromStep: 3, limit: 10 }).catch((e: unknown) => e as Error);
    expect(steps).toBeInstanceOf(Error);
    expect((steps as Error).message).toMatch(/step 3 of generation .* was collected by retention/);
    expect(await codeOf(stack.acme.generations.steps({ id: done.id, fromStep: 3, limit: 10 }))).toBe('NOT_FOUND');

    const png = await fetch(`${stack.api.baseUrl}/generations/${done.id}/images/0.png?step=3`, {
      headers: { authorization: `Bearer ${KEYS.acme}` },
    });
    expect(png.status).toBe(404);
    expect(((await png.json()) as { error: { message: string } }).error.message).toMatch(/collected by retention/);

    expect(await codeOf(stack.acme.generations.branch({ from: { generationId: done.id, step: 3 } }))).toBe('NOT_FOUND');
    const branched = await stack.acme.generations.branch({ from: { generationId: done.id, step: 10 }, overrides: { seed: 5 } });
    expect(branched.parentId).toBe(done.id);

    const pin = await rest(KEYS.acme, `/generations/${done.id}/pins`, { step: 3 });
    expect(pin.status).toBe(404);
    expect(pin.body.message).toMatch(/collected by retention/);
    expect(await codeOf(stack.acme.generations.pin(done.id, 3))).toBe('NOT_FOUND');
  });

  it('unpins a step (REST and the SDK); the next run collects it', async () => {
    const unpin = await rest(KEYS.acme, `/generations/${done.id}/unpin`, { step: 5 });
    expect(unpin.body).toMatchObject({ unpinned: true });
    expect((await rest(KEYS.acme, `/generations/${done.id}/unpin`, { step: 5 })).body).toMatchObject({ unpinned: false });
    // The SDK's pin and unpin: the same records (step 20 is kept by the policy anyway).
    expect(await stack.acme.generations.pin(done.id, 20)).toMatchObject({ generationId: done.id, step: 20 });
    expect(await codeOf(stack.umbrella.generations.pin(done.id, 20))).toBe('NOT_FOUND');
    expect(await stack.acme.generations.unpin(done.id, 20)).toEqual({ generationId: done.id, step: 20, unpinned: true });
    expect(await stack.acme.generations.unpin(done.id, 20)).toEqual({ generationId: done.id, step: 20, unpinned: false });
    await gc();
    const page = await stack.acme.generations.steps({ id: done.id, limit: 500 });
    expect(page.items.map((s) => s.step)).not.toContain(5);
    expect(await codeOf(stack.acme.generations.steps({ id: done.id, fromStep: 5, limit: 10 }))).toBe('NOT_FOUND');
  });
});
