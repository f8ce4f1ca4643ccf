import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalRecordStore } from '@oneflow/store';
import { CheckpointOwners, ownerKey } from './ownership.js';

const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-owners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('checkpoint owners', () => {
  const records = new LocalRecordStore(dir);
  const owners = new CheckpointOwners(records);

  it('records owners per tenant: the same checkpoint may be owned by two tenants, another tenant owns nothing', async () => {
    await owners.record('acme', [A, B, A]);
    await owners.record('Umbrella Corp/ü', [A]);
    expect(await owners.owns('acme', A)).toBe(true);
    expect(await owners.owns('acme', B)).toBe(true);
    expect(await owners.owns('Umbrella Corp/ü', A)).toBe(true);
    expect(await owners.owns('Umbrella Corp/ü', B)).toBe(false);
    expect(await owners.owns('globex', A)).toBe(false);
    const owned: string[] = [];
    for await (const id of owners.ownedBy('acme')) owned.push(id);
    expect(owned.sort()).toEqual([A, B]);
  });

  it('answers false for malformed ids and empty tenants, and refuses to record a malformed id', async () => {
    expect(await owners.owns('acme', A.toUpperCase())).toBe(false);
    expect(await owners.owns('acme', '../../etc/passwd')).toBe(false);
    expect(await owners.owns('', A)).toBe(false);
    await expect(owners.record('acme', ['not-a-checkpoint'])).rejects.toThrow(/64 lowercase hex/);
  });

  it('a record under the key that names another tenant or checkpoint is not ownership; forget removes a marker', async () => {
    await records.put(ownerKey('globex', B), new TextEncoder().encode(JSON.stringify({ v: 1, tenant: 'acme', checkpointId: B })));
    expect(await owners.owns('globex', B)).toBe(false);
    expect(await owners.forget('acme', B)).toBe(true);
    expect(await owners.owns('acme', B)).toBe(false);
    expect(await owners.forget('acme', B)).toBe(false);
  });
});
