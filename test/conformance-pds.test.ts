/**
 * The official PDS's own firehose (pds-capture) against the decoding the
 * official TypeScript libraries made of the same frames (expected.jsonl),
 * under the rules of the Redis contract.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDecoder } from '../src/decoder.js';
import { readFrames, readJsonl } from './support/fixtures.js';
import { assertAccountEntry, entryData } from './support/synthetic.js';

// Fixture JSON is loosely typed by nature.
type Json = any;

test('pds capture: every frame as the contract says', () => {
  const frames = readFrames('pds-capture/frames.bin');
  const expected = readJsonl<Json>('pds-capture/expected.jsonl');
  assert.equal(frames.length, 305);
  assert.equal(expected.length, 305);

  const decoder = createDecoder();
  const frameTypes: Record<string, number> = {};
  const actions: Record<string, number> = {};

  frames.forEach((frame, i) => {
    const want = expected[i];
    assert.equal(want.index, i);
    assert.equal(frame.bytes.length, want.length);
    const { body } = want;
    const r = decoder.decode(frame.bytes);
    assert.equal(r.seq, body.seq);
    assert.deepEqual(r.skipped, []);
    frameTypes[want.header.t] = (frameTypes[want.header.t] ?? 0) + 1;

    switch (want.header.t) {
      case '#commit': {
        const data = entryData(r, 'commit');
        assert.equal(data.repo, body.repo);
        assert.equal(data.rev, body.rev);
        assert.equal(data.time, body.time);
        assert.equal(data.commit, body.commit.$link);
        const ops = want.ops.map((op: Json) =>
          op.action === 'delete'
            ? { action: op.action, path: op.path }
            : { action: op.action, path: op.path, cid: op.cid.$link, record: op.record },
        );
        assert.deepEqual(data.ops, ops);
        for (const op of ops) actions[op.action] = (actions[op.action] ?? 0) + 1;
        break;
      }
      case '#identity':
      case '#account':
        assertAccountEntry(r, want.header.t, body);
        break;
      case '#sync':
        assert.equal(r.kind, 'silent');
        assert.equal(r.kind === 'silent' && r.reason, 'sync');
        assert.equal('data' in r, false);
        break;
      default:
        assert.fail(`frame ${i}: unexpected type ${want.header.t}`);
    }
  });

  assert.deepEqual(frameTypes, { '#commit': 269, '#account': 14, '#identity': 12, '#sync': 10 });
  assert.deepEqual(actions, { create: 372, delete: 32, update: 15 });
});

test('pds capture: the genuine FutureCursor error frame makes no entry', () => {
  const [frame] = readFrames('pds-capture/error-frame-futurecursor/frames.bin');
  const [want] = readJsonl<Json>('pds-capture/error-frame-futurecursor/expected.jsonl');
  assert.deepEqual(want.header, { op: -1 });
  assert.deepEqual(createDecoder().decode(frame!.bytes), {
    kind: 'silent',
    reason: 'error',
    frame: 'error',
    seq: null,
    error: want.body.error,
    message: want.body.message,
    skipped: [],
  });
  assert.equal(want.body.error, 'FutureCursor');
});
