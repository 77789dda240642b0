/**
 * The native decoder and the TypeScript reference must agree on every frame
 * we have: same kind, type, seq and skipped ops, and byte-identical entry
 * data. A frame one rejects, the other must reject too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDecoder, type DecodedFrame, type DecoderOptions } from '../src/decoder.js';
import { FirehoseError } from '../src/errors.js';
import { referenceDecodeFrame } from '../src/reference-decoder.js';
import { CAPTURES, readFrames } from './support/fixtures.js';
import { handBuiltCases, indigoCases } from './support/synthetic.js';

type Outcome = DecodedFrame | { threw: string };

function outcome(decode: () => DecodedFrame): Outcome {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof FirehoseError)) throw err;
    assert.equal(err.code, 'ERR_FRAME_INVALID');
    return { threw: err.code };
  }
}

/** Skip details are prose and may differ; what was skipped and why may not. */
function comparable(o: Outcome): unknown {
  if ('threw' in o) return o;
  return { ...o, skipped: o.skipped.map(({ path, reason }) => ({ path, reason })) };
}

function agree(frame: Uint8Array, options: DecoderOptions = {}): Outcome {
  const native = outcome(() => createDecoder(options).decode(frame));
  const reference = outcome(() => referenceDecodeFrame(frame, options));
  assert.deepStrictEqual(comparable(reference), comparable(native));
  return native;
}

describe('native and reference decoders agree', () => {
  for (const capture of CAPTURES) {
    test(capture, () => {
      const frames = readFrames(capture);
      assert.ok(frames.length > 0);
      let entries = 0;
      for (const f of frames) {
        const o = agree(f.bytes);
        if ('kind' in o && o.kind === 'entry') entries++;
      }
      // Only the error-frame capture has no entries at all.
      assert.equal(entries === 0, capture.includes('error-frame'));
    });
  }

  test('synthetic frames, with their options', () => {
    const cases = [...indigoCases(), ...handBuiltCases()];
    const threw = cases.filter((c) => 'threw' in agree(c.frame, c.options)).length;
    assert.equal(threw, cases.filter((c) => c.expect instanceof RegExp).length);
  });
});
