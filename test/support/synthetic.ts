/**
 * Frames made by the tests, not captured: the indigo firehose commits and
 * relay scenarios (real bodies, kept upstream only as JSON) re-encoded as
 * DAG-CBOR with cborg, and hand-built frames for the cases no capture holds
 * (malformed frames, limits, filters, #info, legacy types). Each case says
 * what the native decoder must make of it; the differential test also runs
 * the reference decoder over all of them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CarBufferReader } from '@ipld/car/buffer-reader';
import { CID } from 'multiformats/cid';
import type { DecodedFrame, DecoderOptions, EntryFrame } from '../../src/decoder.js';
import { cidOf, decodeDagCborLenient, encodeCar, encodeDagCbor, encodeFrame, fromAtprotoJson, toAtprotoJson } from './dag.js';
import { fixture, readJson } from './fixtures.js';

export interface FrameCase {
  name: string;
  frame: Uint8Array;
  options?: DecoderOptions;
  /** The message native must reject the frame with, or a check of what it returns. */
  expect: RegExp | ((r: DecodedFrame) => void);
}

// Fixture JSON is loosely typed by nature.
type Json = any;

/** Asserts that r is an entry of this type; returns its data, parsed. */
export function entryData(r: DecodedFrame, type: string): Json {
  assert.equal(r.kind, 'entry', `expected an entry, got ${JSON.stringify(r)}`);
  assert.equal((r as EntryFrame).type, type);
  return JSON.parse((r as EntryFrame).data);
}

/** An #identity or #account frame's entry, per the contract (body as atproto JSON). */
export function assertAccountEntry(r: DecodedFrame, t: '#identity' | '#account', body: Json): void {
  if (t === '#identity') {
    assert.deepEqual(entryData(r, 'identity'), { did: body.did, handle: body.handle ?? body.did, time: body.time });
  } else {
    assert.deepEqual(entryData(r, 'account'), {
      did: body.did,
      active: body.active,
      ...(body.status ? { status: body.status } : {}),
      time: body.time,
    });
  }
}

/** An op as the entry must carry it; the record comes from the CAR, decoded by cborg. */
function expectedOp(op: Json, car: CarBufferReader): Json {
  if (op.action === 'delete') return { action: 'delete', path: op.path };
  const block = car.get(CID.parse(op.cid.$link));
  assert.ok(block, `${op.path}: record block missing from the fixture's CAR`);
  return { action: op.action, path: op.path, cid: op.cid.$link, record: toAtprotoJson(decodeDagCborLenient(block.bytes)) };
}

/** What a frame given as atproto JSON must become, per the contract. */
function expectFromJson(header: Json, body: Json): (r: DecodedFrame) => void {
  return (r) => {
    assert.equal(r.seq, body.seq);
    switch (header.t) {
      case '#commit': {
        const car = CarBufferReader.fromBytes(Buffer.from(body.blocks.$bytes, 'base64'));
        assert.deepEqual(car.getRoots().map(String), [body.commit.$link]);
        assert.deepEqual(entryData(r, 'commit'), {
          repo: body.repo,
          ops: body.ops.map((op: Json) => expectedOp(op, car)),
          rev: body.rev,
          time: body.time,
          commit: body.commit.$link,
        });
        assert.deepEqual(r.skipped, []);
        break;
      }
      case '#identity':
      case '#account':
        assertAccountEntry(r, header.t, body);
        break;
      case '#sync':
        assert.deepEqual(r, { kind: 'silent', reason: 'sync', frame: '#sync', seq: body.seq, time: body.time, skipped: [] });
        break;
      default:
        assert.fail(`no expectation for ${header.t}`);
    }
  };
}

export function indigoCases(): FrameCase[] {
  const cases: FrameCase[] = [];
  for (const file of fs.readdirSync(fixture('indigo/firehose-commits')).sort()) {
    const header = { op: 1, t: '#commit' };
    const body = readJson('indigo/firehose-commits', file);
    cases.push({ name: file, frame: encodeFrame(header, fromAtprotoJson(body)), expect: expectFromJson(header, body) });
  }
  for (const file of fs.readdirSync(fixture('indigo/relay-scenarios')).sort()) {
    readJson<Json>('indigo/relay-scenarios', file).messages.forEach((m: Json, i: number) => {
      const { header, body } = m.frame;
      cases.push({
        name: `${file} message ${i} (${header.t})`,
        frame: encodeFrame(header, fromAtprotoJson(body)),
        expect: expectFromJson(header, body),
      });
    });
  }
  return cases;
}

/** A real #commit body (one like create) as values for cborg. */
function likeCommit(): Json {
  const message = readJson<Json>('indigo/relay-scenarios', 'legacy.json').messages[2];
  return fromAtprotoJson(message.frame.body);
}

/** A real 3-op commit: app.bsky.feed.post, .threadgate and .postgate creates. */
function threeOpCommit(): Json {
  const message = readJson<Json>('indigo/relay-scenarios', 'post_lifecycle.json').messages[5];
  return fromAtprotoJson(message.frame.body);
}

const COMMIT = { op: 1, t: '#commit' };
const LIKE_PATH = 'app.bsky.feed.like/3llpyftcvih2r';
const MB = 1 << 20;

function without(o: Json, key: string): Json {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

function paths(r: DecodedFrame): string[] {
  return entryData(r, 'commit').ops.map((op: Json) => op.path);
}

function skips(r: DecodedFrame): Array<[string, string]> {
  return r.skipped.map((s) => [s.path, s.reason]);
}

export function handBuiltCases(): FrameCase[] {
  const like = likeCommit();
  const likeFrame = encodeFrame(COMMIT, like);
  const identity = encodeFrame({ op: 1, t: '#identity' }, { did: 'did:plc:abc', seq: 9, handle: 'a.test', time: 't' });
  const sync = encodeFrame({ op: 1, t: '#sync' }, { did: 'did:plc:abc', rev: '3lmxrbvasth2t', seq: 12, time: 't', blocks: new Uint8Array(3) });
  const info = encodeFrame({ op: 1, t: '#info' }, { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit.' });

  // A CAR holding one record with no $type.
  const untyped = encodeDagCbor({ text: 'no type', createdAt: '2025-01-01T00:00:00.000Z' });
  const untypedCid = cidOf(untyped);
  const untypedCar = encodeCar([untypedCid], [{ cid: untypedCid, bytes: untyped }]);

  const filterCase = (collections: string[], expect: (r: DecodedFrame) => void): FrameCase => ({
    name: `collection filter ${JSON.stringify(collections)}`,
    frame: encodeFrame(COMMIT, threeOpCommit()),
    options: { collections },
    expect,
  });

  return [
    { name: 'empty message', frame: new Uint8Array(0), expect: /^empty message$/ },
    {
      name: 'trailing bytes after the body',
      frame: Buffer.concat([identity, Buffer.from([0x00])]),
      expect: /^1 trailing bytes after the body$/,
    },
    {
      name: 'truncated body',
      frame: likeFrame.subarray(0, likeFrame.length - 40),
      expect: /^#commit body: .*(unexpected end of input|runs past the end of input).* at byte \d+$/,
    },
    {
      name: 'header is not a map',
      frame: Buffer.concat([encodeDagCbor([1, '#commit']), encodeDagCbor(like)]),
      expect: /^header is an array, expected a map$/,
    },
    { name: 'header op 2', frame: encodeFrame({ op: 2, t: '#commit' }, like), expect: /^header op 2 is neither 1 \(message\) nor -1 \(error\)$/ },
    { name: 'header without t', frame: encodeFrame({ op: 1 }, like), expect: /^header has no t$/ },
    { name: 'commit without repo', frame: encodeFrame(COMMIT, without(like, 'repo')), expect: /^#commit body has no repo$/ },
    {
      name: 'commit with 201 ops',
      frame: encodeFrame(COMMIT, { ...like, ops: Array.from({ length: 201 }, () => ({ action: 'delete', path: LIKE_PATH, cid: null })) }),
      expect: /^#commit has 201 ops, more than the limit of 200 \(MAX_COMMIT_OPS\)$/,
    },
    {
      name: 'commit with 201 ops under maxOps 201',
      frame: encodeFrame(COMMIT, { ...like, ops: Array.from({ length: 201 }, () => ({ action: 'delete', path: LIKE_PATH, cid: null })) }),
      options: { maxOps: 201 },
      expect: (r) => assert.equal(entryData(r, 'commit').ops.length, 201),
    },
    {
      name: 'blocks over 2 MB',
      frame: encodeFrame(COMMIT, { ...like, blocks: new Uint8Array(2 * MB + 1) }),
      expect: /^#commit blocks of 2097153 bytes exceed the limit of 2097152 \(MAX_BLOCKS_BYTES\)$/,
    },
    {
      // The size is checked before anything is parsed, so padding will do.
      name: 'message over 5 MB',
      frame: Buffer.concat([likeFrame, Buffer.alloc(5 * MB + 1 - likeFrame.length)]),
      expect: /^message of 5242881 bytes exceeds the limit of 5242880 \(MAX_MESSAGE_BYTES\)$/,
    },
    {
      name: 'message over maxMessageBytes 100',
      frame: likeFrame,
      options: { maxMessageBytes: 100 },
      expect: new RegExp(`^message of ${likeFrame.length} bytes exceeds the limit of 100 \\(MAX_MESSAGE_BYTES\\)$`),
    },
    {
      name: 'create whose block is not in the CAR',
      frame: encodeFrame(COMMIT, {
        ...like,
        ops: [...like.ops, { action: 'create', path: 'app.bsky.feed.like/missing', cid: cidOf(new TextEncoder().encode('elsewhere')) }],
      }),
      expect: (r) => {
        assert.deepEqual(paths(r), [LIKE_PATH]);
        assert.deepEqual(skips(r), [['app.bsky.feed.like/missing', 'block_missing']]);
        assert.match(r.skipped[0]!.detail, /is not in the commit's blocks/);
      },
    },
    {
      name: 'record without $type',
      frame: encodeFrame(COMMIT, { ...like, blocks: untypedCar, ops: [{ action: 'create', path: 'app.bsky.feed.post/untyped', cid: untypedCid }] }),
      expect: (r) => {
        assert.deepEqual(entryData(r, 'commit').ops, []);
        assert.deepEqual(skips(r), [['app.bsky.feed.post/untyped', 'bad_record']]);
        assert.match(r.skipped[0]!.detail, /record has no \$type/);
      },
    },
    {
      name: 'tooBig commit',
      frame: encodeFrame(COMMIT, { ...like, tooBig: true }),
      expect: (r) => {
        assert.deepEqual(entryData(r, 'commit').ops, []);
        assert.deepEqual(skips(r), [[LIKE_PATH, 'bad_car']]);
        assert.match(r.skipped[0]!.detail, /tooBig/);
      },
    },
    {
      name: 'malformed ops are left out, in order, with a reason',
      frame: encodeFrame(COMMIT, {
        ...like,
        ops: [
          { action: 'frobnicate', path: 'app.bsky.feed.like/x', cid: untypedCid },
          { action: 'create', path: 'no-collection', cid: untypedCid },
          { action: 'create', path: 'app.bsky.feed.like/nocid', cid: null },
          7,
          ...like.ops,
        ],
      }),
      expect: (r) => {
        assert.deepEqual(paths(r), [LIKE_PATH]);
        assert.deepEqual(skips(r), [
          ['app.bsky.feed.like/x', 'bad_op'],
          ['no-collection', 'bad_op'],
          ['app.bsky.feed.like/nocid', 'no_cid'],
          ['', 'bad_op'],
        ]);
      },
    },
    filterCase(['app.bsky.feed.post'], (r) => {
      assert.deepEqual(paths(r), ['app.bsky.feed.post/3lmxk35znys2k']);
      assert.equal(r.opsTotal, 3);
      assert.equal(r.opsFiltered, 2);
    }),
    filterCase(['app.bsky.feed.*'], (r) => {
      assert.equal(paths(r).length, 3);
      assert.equal(r.opsFiltered, 0);
    }),
    filterCase(['*', 'app.bsky.graph.follow'], (r) => assert.equal(paths(r).length, 3)),
    filterCase(['app.bsky.graph.*', 'app.bsky.feed'], (r) => {
      assert.equal(r.kind, 'silent');
      assert.equal(r.kind === 'silent' && r.reason, 'filtered');
      assert.equal(r.seq, 35986865);
      assert.equal(r.opsFiltered, 3);
    }),
    {
      name: '#sync is silent by default',
      frame: sync,
      expect: (r) => assert.deepEqual(r, { kind: 'silent', reason: 'sync', frame: '#sync', seq: 12, time: 't', skipped: [] }),
    },
    {
      name: '#sync with emitSync',
      frame: sync,
      options: { emitSync: true },
      expect: (r) => {
        assert.equal(r.kind === 'entry' && r.data, '{"did":"did:plc:abc","rev":"3lmxrbvasth2t","time":"t"}');
        assert.equal(r.kind === 'entry' && r.type, 'sync');
      },
    },
    {
      name: '#info OutdatedCursor',
      frame: info,
      expect: (r) =>
        assert.deepEqual(r, {
          kind: 'silent',
          reason: 'info',
          frame: '#info',
          seq: null,
          name: 'OutdatedCursor',
          message: 'Requested cursor exceeded limit.',
          skipped: [],
        }),
    },
    {
      name: '#info with emitInfo',
      frame: info,
      options: { emitInfo: true },
      expect: (r) => assert.equal(r.kind === 'entry' && r.data, '{"name":"OutdatedCursor","message":"Requested cursor exceeded limit."}'),
    },
    {
      name: 'identity entry data, byte for byte',
      frame: identity,
      expect: (r) => assert.equal(r.kind === 'entry' && r.data, '{"did":"did:plc:abc","handle":"a.test","time":"t"}'),
    },
    {
      name: 'error frame ConsumerTooSlow',
      frame: encodeFrame({ op: -1 }, { error: 'ConsumerTooSlow', message: 'Stream consumer too slow' }),
      expect: (r) =>
        assert.deepEqual(r, {
          kind: 'silent',
          reason: 'error',
          frame: 'error',
          seq: null,
          error: 'ConsumerTooSlow',
          message: 'Stream consumer too slow',
          skipped: [],
        }),
    },
    {
      name: 'unknown type #labels',
      frame: encodeFrame({ op: 1, t: '#labels' }, { seq: 5, labels: [] }),
      expect: (r) => assert.deepEqual(r, { kind: 'silent', reason: 'unknown', frame: '#labels', seq: 5, skipped: [] }),
    },
    {
      name: 'legacy #handle',
      frame: encodeFrame({ op: 1, t: '#handle' }, { did: 'did:plc:abc', handle: 'old.test', seq: 6, time: 't' }),
      expect: (r) => assert.deepEqual(r, { kind: 'silent', reason: 'legacy', frame: '#handle', seq: 6, time: 't', skipped: [] }),
    },
  ];
}
