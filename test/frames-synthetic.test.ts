/**
 * Frames built here with cborg (see test/support/synthetic.ts): real indigo
 * commit bodies and relay scenarios re-encoded from their JSON form, and
 * hand-made frames for what no capture holds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDecoder, type DecodedFrame } from '../src/decoder.js';
import { FirehoseError } from '../src/errors.js';
import { handBuiltCases, indigoCases, type FrameCase } from './support/synthetic.js';

function check(c: FrameCase): void {
  const decoder = createDecoder(c.options);
  if (c.expect instanceof RegExp) {
    assert.throws(
      () => decoder.decode(c.frame),
      (err: unknown) => err instanceof FirehoseError && err.code === 'ERR_FRAME_INVALID' && (c.expect as RegExp).test(err.message),
    );
    return;
  }
  const result: DecodedFrame = decoder.decode(c.frame);
  c.expect(result);
}

describe('indigo firehose commits and relay scenarios, re-encoded', () => {
  const cases = indigoCases();
  test('all of them are here', () => {
    // 3 commit bodies; relay scenarios: 4 + 8 + 3 + 6 messages.
    assert.equal(cases.length, 24);
  });
  for (const c of cases) test(c.name, () => check(c));
});

describe('hand-built frames', () => {
  for (const c of handBuiltCases()) test(c.name, () => check(c));
});
