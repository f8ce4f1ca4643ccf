import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointError, checkpointIdOf, decodeCheckpoint, encodeCheckpoint, sha256Hex } from './checkpoint.js';
import { state } from './testing/arbitraries.js';

const parent = fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: null });

function expectCheckpointError(f: () => unknown, code?: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    if (code !== undefined) expect((e as CheckpointError).code).toBe(code);
    return;
  }
  throw new Error('expected a CheckpointError, decoding succeeded');
}

describe('checkpoint codec', () => {
  it('round-trips every state exactly, with a stable content id', () => {
    fc.assert(
      fc.property(state, parent, (s, p) => {
        const enc = encodeCheckpoint({ state: s, parent: p });
        const dec = decodeCheckpoint(enc.bytes, enc.id);
        expect(decodeCheckpoint(Buffer.from(enc.bytes)).state).toEqual(s); // a Node Buffer, as read from disk
        expect(dec.id).toBe(enc.id);
        expect(dec.parent).toBe(p);
        expect(dec.state).toEqual(s);
        expect(encodeCheckpoint({ state: dec.state, parent: p })).toEqual(enc);
        expect(sha256Hex(enc.bytes.subarray(0, enc.bytes.length - 32))).toBe(enc.id);
        expect(checkpointIdOf(enc.bytes)).toBe(enc.id);
      }),
      { numRuns: 150 },
    );
  });

  it('detects any flipped byte and any truncation with a typed error', () => {
    fc.assert(
      fc.property(state, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), (s, at, mask, cut) => {
        const { bytes } = encodeCheckpoint({ state: s, parent: null });
        const flipped = Uint8Array.from(bytes);
        flipped[at % bytes.length]! ^= mask;
        expectCheckpointError(() => decodeCheckpoint(flipped));
        expectCheckpointError(() => decodeCheckpoint(bytes.subarray(0, cut % bytes.length)));
      }),
      { numRuns: 150 },
    );
  });

  it('never throws anything but CheckpointError, even for garbage with a valid hash trailer', () => {
    fc.assert(
      fc.property(state, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }), (s, at, junk) => {
        const { bytes } = encodeCheckpoint({ state: s, parent: null });
        const body = Uint8Array.from(bytes.subarray(0, bytes.length - 32));
        const offset = 8 + (at % (body.length - 8)); // keep magic and version: those fail earlier anyway
        body.set(junk.subarray(0, body.length - offset), offset);
        const forged = new Uint8Array(body.length + 32);
        forged.set(body);
        forged.set(Buffer.from(sha256Hex(body), 'hex'), body.length);
        try {
          const d = decodeCheckpoint(forged);
          expect(encodeCheckpoint({ state: d.state, parent: d.parent }).bytes).toEqual(forged);
        } catch (e) {
          expect(e).toBeInstanceOf(CheckpointError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('names the failure: magic, version, hash, id', () => {
    fc.assert(
      fc.property(state, (s) => {
        const { bytes, id } = encodeCheckpoint({ state: s, parent: null });
        const bad = Uint8Array.from(bytes);
        bad[0] = 0x58;
        expectCheckpointError(() => decodeCheckpoint(bad), 'bad-magic');
        const v3 = Uint8Array.from(bytes);
        v3[4] = 3;
        expectCheckpointError(() => decodeCheckpoint(v3), 'unsupported-version');
        const tail = Uint8Array.from(bytes);
        tail[tail.length - 40]! ^= 1;
        expectCheckpointError(() => decodeCheckpoint(tail), 'hash-mismatch');
        expectCheckpointError(() => decodeCheckpoint(bytes, id.replace(/^./, id[0] === '0' ? '1' : '0')), 'id-mismatch');
        expectCheckpointError(() => decodeCheckpoint(bytes.subarray(0, 20)), 'truncated');
      }),
      { numRuns: 20 },
    );
  });

  it('reads version 1 blobs (no imageGuidance): images resume guided with the text weight', () => {
    fc.assert(
      fc.property(state, (s) => {
        const { bytes } = encodeCheckpoint({ state: s, parent: null });
        // the v2 body without its imageGuidance f64 (right after maxImages), stamped version 1
        const name = Buffer.byteLength(s.spec.name, 'utf8');
        const at = 8 + 33 + 2 + name + 32 + 16 + 2 + 4 * s.spec.neverInsert.length + 12 + 32;
        const body = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 8, bytes.length - 32)]);
        body.writeUInt16LE(1, 4);
        const v1 = Buffer.concat([body, Buffer.from(sha256Hex(body), 'hex')]);
        const dec = decodeCheckpoint(v1);
        expect(dec.state).toEqual({ ...s, params: { ...s.params, imageGuidance: s.params.guidance } });
        expect(dec.id).toBe(sha256Hex(body));
      }),
      { numRuns: 50 },
    );
  });

  it('is compact: a state with two 28×28 images is ~2 × 3.1 KiB plus under 300 bytes', () => {
    const latent = new Float32Array(784);
    const s = fc.sample(state, { seed: 1, numRuns: 1 })[0]!;
    const big = {
      ...s,
      spec: { ...s.spec, latentShape: [1, 28, 28] as [number, number, number] },
      tokens: [1, 2, 3, 3],
      promptLen: 2,
      images: [
        { latent, t: 0.5 },
        { latent, t: 0.25 },
      ],
    };
    const { bytes } = encodeCheckpoint({ state: big, parent: null });
    expect(bytes.length).toBeLessThan(2 * (8 + 784 * 4) + 300);
  });
});
