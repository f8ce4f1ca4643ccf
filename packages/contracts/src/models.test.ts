import { describe, expect, it } from 'vitest';
import { preferredModel } from './models.js';

describe('preferredModel', () => {
  it('takes the newest contract first, then the first by name; nothing when nothing is served', () => {
    const v1 = { name: 'oneflow-toy-v1', format: 'oneflow-v1' };
    const v2 = { name: 'oneflow-toy-v2', format: 'oneflow-v2' };
    const other = { name: 'a-model', format: 'oneflow-v2' };
    expect(preferredModel([v1, v2])).toBe(v2);
    expect(preferredModel([v2, v1])).toBe(v2);
    expect(preferredModel([v1, v2, other])).toBe(other);
    expect(preferredModel([v1])).toBe(v1);
    expect(preferredModel([{ name: 'odd', format: 'custom' }, v1])).toBe(v1);
    expect(preferredModel([])).toBeUndefined();
  });
});
