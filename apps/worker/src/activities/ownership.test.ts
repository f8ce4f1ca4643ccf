import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointOwners } from '@oneflow/engine';
import { LocalRecordStore } from '@oneflow/store';
import { ownershipRecorder } from './ownership.js';

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-ownership-recorder-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const [A, B, C] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string];

describe('ownershipRecorder', () => {
  it("marks checkpoints as the workflow's tenant's, looking the tenant up once per workflow; no tenant: no marker, asked again", async () => {
    const owners = new CheckpointOwners(new LocalRecordStore(dir));
    const asked: string[] = [];
    const tenants: Record<string, string | null> = { 'gen-1': 'acme', 'gen-2': null };
    const recorder = ownershipRecorder(owners, (id) => {
      asked.push(id);
      return Promise.resolve(tenants[id] ?? null);
    });
    await recorder.record('gen-1', [A]);
    await recorder.record('gen-1', [B]);
    await recorder.record('gen-2', [C]);
    await recorder.record('gen-2', [C]);
    expect(asked).toEqual(['gen-1', 'gen-2', 'gen-2']);
    expect([await owners.owns('acme', A), await owners.owns('acme', B), await owners.owns('acme', C)]).toEqual([true, true, false]);
    tenants['gen-2'] = 'umbrella';
    await recorder.record('gen-2', [C]);
    expect(await owners.owns('umbrella', C)).toBe(true);
  });

  it('a failed tenant lookup fails the call (the activity is retried) and writes nothing', async () => {
    const owners = new CheckpointOwners(new LocalRecordStore(dir));
    const recorder = ownershipRecorder(owners, () => Promise.reject(new Error('temporal unavailable')));
    await expect(recorder.record('gen-3', ['d'.repeat(64)])).rejects.toThrow('temporal unavailable');
  });
});
