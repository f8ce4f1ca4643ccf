import type { ProgressEvent } from '@oneflow/sdk/browser';
import { describe, expect, it } from 'vitest';
import { frameOfSnapshot, mergeFrames, withEvent } from './generation.js';

const event = (step: number, state: ProgressEvent['state'], checkpointId: string | null, text = ''): ProgressEvent => ({
  id: `${step}.${state}`,
  state,
  step,
  steps: 27,
  tText: step / 27,
  text,
  pieces: text ? text.split(' ') : [],
  images: [],
  checkpointId,
  error: null,
});

describe('the timeline frames of a generation', () => {
  it('a branch: the "queued" event before its root (step 0, no checkpoint) is its state, not a frame; its timeline starts where it branched', () => {
    let frames = mergeFrames(
      [],
      [frameOfSnapshot({ step: 13, checkpointId: 'c13', text: 'two', pieces: ['two'], imageClocks: [0.2], tText: 0.5, done: false })],
      false,
    );
    const queued = withEvent(frames, event(0, 'queued', null));
    expect(queued.frames.map((f) => f.step)).toEqual([13]);
    expect(queued.last).toMatchObject({ state: 'queued', step: 0 });
    frames = queued.frames;
    const running = withEvent(frames, event(13, 'running', 'c13', 'two'));
    expect(running.frames.map((f) => [f.step, f.state])).toEqual([[13, 'running']]);
    const next = withEvent(running.frames, event(14, 'running', 'c14', 'two three'));
    expect(next.frames.map((f) => f.step)).toEqual([13, 14]);
    expect(next.last.text).toBe('two three');
  });

  it('a final state with no checkpoint (failed before its first step) is reported, and makes no frame', () => {
    const failed = withEvent([], { ...event(0, 'failed', null), error: 'boom' });
    expect(failed.frames).toEqual([]);
    expect(failed.last).toMatchObject({ state: 'failed', error: 'boom' });
  });
});
