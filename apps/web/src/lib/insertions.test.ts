import { describe, expect, it } from 'vitest';
import { insertedCount, insertedMask } from './insertions.js';
import { imageSlots, piecesOf } from './tokens.js';

describe('insertedMask (which tokens are new since the previous step)', () => {
  it('marks insertions anywhere, including repeated words', () => {
    const prev = ['two', 'four'];
    const next = ['one', 'two', 'three', 'four', 'five'];
    expect(insertedMask(prev, next)).toEqual([true, false, true, false, true]);
    expect(insertedMask(['two'], ['two', 'two'])).toEqual([false, true]);
    expect(insertedCount([], ['a', 'b'])).toBe(2);
    expect(insertedCount(['a', 'b'], ['a', 'b'])).toBe(0);
  });

  it('keeps every old token exactly once for random insertion-only edits', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const words = ['two', 'three', '<image>', 'four', ','];
    for (let trial = 0; trial < 200; trial++) {
      const prev = Array.from({ length: rand(8) }, () => words[rand(words.length)]!);
      const next = [...prev];
      const inserts = rand(6);
      for (let k = 0; k < inserts; k++) next.splice(rand(next.length + 1), 0, words[rand(words.length)]!);
      const mask = insertedMask(prev, next);
      expect(mask.filter(Boolean).length).toBe(inserts);
      expect(next.filter((_, i) => !mask[i])).toEqual(prev);
    }
  });

  it('falls back to the longest common subsequence after a deletion (refine)', () => {
    const prev = ['one', 'two', 'three', 'four'];
    const next = ['one', 'six', 'four'];
    expect(insertedMask(prev, next)).toEqual([false, true, false]);
  });
});

describe('tokens', () => {
  it('splits text on spaces until pieces are sent, and uses pieces when they are', () => {
    expect(piecesOf({ text: '' })).toEqual([]);
    expect(piecesOf({ text: 'two <image> three' })).toEqual(['two', '<image>', 'three']);
    expect(piecesOf({ text: 'ignored', pieces: ['two', ',', ' three'] })).toEqual(['two', ',', ' three']);
  });

  it('numbers image slots in text order', () => {
    expect(imageSlots(['two', '<image>', 'three', '<image>'])).toEqual([null, 0, null, 1]);
  });
});
