/**
 * The Redis contract (CONTRACT.md), checked the way the existing
 * application sees it: a consumer written exactly like its TypeScript
 * workers (ioredis, XGROUP CREATE ... MKSTREAM, XREADGROUP, fields read by
 * position, `op.record.$type` without a guard, XACK) reads what the writer
 * produced from real frames, and every rule of the contract is asserted on
 * what it read. Expectations come from an independent decoding of the same
 * frames (cborg + @ipld/car), never from the decoder under test.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { CarBufferReader } from '@ipld/car/buffer-reader';
import { decodeFirst } from 'cborg';
import type { Redis } from 'ioredis';
import { CID } from 'multiformats/cid';
import { seqOf, syntheticStream } from '../bench/corpus.js';
import { createIngester, type Ingester, type IngesterOptions } from '../src/ingester.js';
import { decodeDagCborLenient, encodeFrame, toAtprotoJson } from './support/dag.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer } from './support/redis.js';
import { CURSOR_KEY, STREAM_KEY, readStream, recordEvents, sleep, until, waitFor } from './support/stream.js';

// Decoded frames and entry data are loosely typed by nature.
type Json = any;

const GROUP = 'firehose-processors';
const STATUS_KEY = 'firehose:status';
const RECENT_KEY = 'firehose:recent_events';
const BROADCAST = 'firehose:events:broadcast';

let server: RedisServer;
let redis: Redis;

before(async () => {
  server = await RedisServer.start();
  redis = server.client();
});
after(async () => {
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

// ---------------------------------------------------------------- frames

/** Header and body of a relay message, decoded by cborg (tag 42 to CID). */
function decodeIndependently(frame: Uint8Array): { header: Json; body: Json } {
  const tags: Json = [];
  tags[42] = (content: () => Uint8Array) => CID.decode(content().subarray(1));
  const [header, rest] = decodeFirst(frame, { tags });
  const [body, end] = decodeFirst(rest, { tags });
  assert.equal(end.length, 0);
  return { header, body };
}

interface Expected {
  seq: number;
  type: 'commit' | 'identity' | 'account';
  data: Json;
}

/** The entry the contract asks for, or null (#sync and other frames make none). */
function expectedEntry(frame: Uint8Array): Expected | null {
  const { header, body } = decodeIndependently(frame);
  switch (header.t) {
    case '#commit': {
      const car = CarBufferReader.fromBytes(body.blocks);
      const ops = body.ops.map((op: Json) => {
        if (op.action === 'delete') return { action: 'delete', path: op.path };
        const block = car.get(op.cid);
        assert.ok(block, `${op.path}: record block missing`);
        return { action: op.action, path: op.path, cid: op.cid.toString(), record: toAtprotoJson(decodeDagCborLenient(block.bytes)) };
      });
      return { seq: body.seq, type: 'commit', data: { repo: body.repo, ops } };
    }
    case '#identity':
      return { seq: body.seq, type: 'identity', data: { did: body.did, handle: body.handle ?? body.did } };
    case '#account':
      return { seq: body.seq, type: 'account', data: { did: body.did, active: body.active } };
    default:
      return null;
  }
}

function frameBytes(file: string): Buffer[] {
  return readFrames(file).map((f) => f.bytes);
}

// ---------------------------------------------------------------- the consumer

interface Consumed {
  id: string;
  fields: string[];
  type: string;
  data: Json;
  seq: string;
}

/** As the workers do it: create the group, ignoring BUSYGROUP. */
async function ensureGroup(client: Redis): Promise<void> {
  try {
    await client.xgroup('CREATE', STREAM_KEY, GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

/**
 * The worker loop: XREADGROUP ... COUNT 10 BLOCK 100, fields by position,
 * `op.record.$type` on every create/update with no guard, XACK after. Stops
 * once `want` entries were read (or after idleMs without any).
 */
async function consume(client: Redis, want: number, idleMs = 3000): Promise<Consumed[]> {
  const seen: Consumed[] = [];
  let lastProgress = Date.now();
  while (seen.length < want && Date.now() - lastProgress < idleMs) {
    const res = (await client.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 10, 'BLOCK', 100, 'STREAMS', STREAM_KEY, '>')) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    if (!res) continue;
    for (const [, messages] of res) {
      for (const [id, fields] of messages) {
        const type = fields[1]!;
        const data = JSON.parse(fields[3]!);
        const seq = fields[5]!;
        if (type === 'commit') {
          for (const op of data.ops) {
            if (op.action === 'create' || op.action === 'update') {
              // The worker's line, unguarded: throws if an op has no record.
              const recordType: string = op.record.$type;
              assert.equal(typeof recordType, 'string');
            }
          }
        }
        await client.xack(STREAM_KEY, GROUP, id);
        seen.push({ id, fields, type, data, seq });
        lastProgress = Date.now();
      }
    }
  }
  return seen;
}

// ---------------------------------------------------------------- checks

const CID_STRING = /^b[a-z2-7]{58,}$/;

function assertCidString(s: unknown, where: string): void {
  assert.equal(typeof s, 'string', `${where}: CID is not a string`);
  assert.match(s as string, CID_STRING, `${where}: not a base32 lower-case CID string`);
  const cid = CID.parse(s as string);
  assert.equal(cid.version, 1, `${where}: not a CIDv1`);
  assert.equal(cid.toString(), s, `${where}: not the canonical string of the CID`);
}

/** Every {$link} is a CIDv1 string, every {$bytes} base64, every number an integer. */
function walkRecord(v: unknown, where: string): void {
  if (Array.isArray(v)) return v.forEach((x, i) => walkRecord(x, `${where}[${i}]`));
  if (typeof v === 'number') return assert.ok(Number.isInteger(v), `${where}: ${v} is not an integer`);
  if (v === null || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  if ('$link' in o) {
    assert.deepEqual(Object.keys(o), ['$link'], `${where}: $link object with other keys`);
    return assertCidString(o.$link, where);
  }
  if ('$bytes' in o) {
    assert.deepEqual(Object.keys(o), ['$bytes'], `${where}: $bytes object with other keys`);
    assert.match(o.$bytes as string, /^[A-Za-z0-9+/]*$/, `${where}: $bytes is not unpadded base64`);
    return;
  }
  for (const [k, x] of Object.entries(o)) walkRecord(x, `${where}.${k}`);
}

/**
 * Every rule of "One stream entry per event" on what the consumer read,
 * entry by entry against the frames the writer was given.
 */
function assertEntries(consumed: Consumed[], frames: Uint8Array[]): Expected[] {
  const expected = frames.map(expectedEntry).filter((e): e is Expected => e !== null);
  assert.equal(consumed.length, expected.length, 'one entry per event (frames without an entry make none)');
  consumed.forEach((c, i) => {
    const want = expected[i]!;
    const at = `entry ${i} (seq ${want.seq})`;
    assert.equal(c.fields.length, 6, `${at}: three fields`);
    assert.deepEqual([c.fields[0], c.fields[2], c.fields[4]], ['type', 'data', 'seq'], `${at}: field names and order`);
    assert.equal(c.seq, String(want.seq), `${at}: relay order, seq as a decimal string`);
    assert.match(c.seq, /^(0|[1-9]\d*)$/);
    assert.equal(c.type, want.type, `${at}: type`);
    assert.ok(['commit', 'identity', 'account'].includes(c.type));
    assert.match(c.fields[3]!, /^\{/, `${at}: data is a JSON object`);
    assert.ok(c.data !== null && typeof c.data === 'object' && !Array.isArray(c.data), `${at}: data is an object`);
    switch (c.type) {
      case 'commit': {
        assert.equal(c.data.repo, want.data.repo, `${at}: repo`);
        assert.ok(Array.isArray(c.data.ops), `${at}: ops is an array`);
        assert.equal(c.data.ops.length, want.data.ops.length, `${at}: every op`);
        if (c.data.commit !== undefined) assertCidString(c.data.commit, `${at}.commit`);
        c.data.ops.forEach((op: Json, j: number) => {
          const w = want.data.ops[j];
          const where = `${at} op ${j} (${w.path})`;
          assert.equal(op.action, w.action, `${where}: action`);
          assert.equal(op.path, w.path, `${where}: path`);
          assert.match(op.path, /^[a-zA-Z][a-zA-Z0-9.-]*\/[^/]+$/, `${where}: path is collection/rkey`);
          if (op.action === 'delete') {
            assert.equal('record' in op, false, `${where}: a delete carries no record`);
          } else {
            assert.ok(['create', 'update'].includes(op.action), `${where}: action`);
            assertCidString(op.cid, `${where}.cid`);
            assert.equal(op.cid, w.cid, `${where}: cid`);
            assert.ok(op.record !== null && typeof op.record === 'object' && !Array.isArray(op.record), `${where}: record is an object`);
            assert.equal(typeof op.record.$type, 'string', `${where}: record.$type`);
            walkRecord(op.record, `${where}.record`);
            assert.deepEqual(op.record, w.record, `${where}: record in the atproto JSON data model`);
          }
        });
        break;
      }
      case 'identity':
        assert.equal(c.data.did, want.data.did, `${at}: did`);
        assert.equal(typeof c.data.handle, 'string', `${at}: handle is a string`);
        assert.equal(c.data.handle, want.data.handle, `${at}: handle (the did when the event has none)`);
        break;
      case 'account':
        assert.equal(c.data.did, want.data.did, `${at}: did`);
        assert.equal(typeof c.data.active, 'boolean', `${at}: active is a boolean`);
        assert.equal(c.data.active, want.data.active, `${at}: active`);
        break;
    }
  });
  return expected;
}

const open = new Set<Ingester>();

function ingester(options: Partial<IngesterOptions> = {}): Ingester {
  const ing = createIngester({ redisUrl: server.url, dashboardStatus: false, ...options });
  ing.on('fatal', (e) => assert.fail(`unexpected fatal error: ${e.message}`));
  open.add(ing);
  return ing;
}

// A failed assertion must not leave a writer thread running: the file would never exit.
afterEach(async () => {
  await Promise.all([...open].map((ing) => ing.close(2000)));
  open.clear();
});

/** Pushes everything (waiting on 'drain' when asked to), then close(); returns the close result. */
async function writeAll(ing: Ingester, frames: Uint8Array[]): Promise<{ flushed: boolean; pendingFrames: number }> {
  await ing.cursor();
  for (const f of frames) {
    if (ing.push(f) === false) await waitFor(ing, 'drain', 10_000);
  }
  return ing.close(15_000);
}

// ---------------------------------------------------------------- tests

test('pds capture: a worker-style consumer reads every event once, in relay order, as the contract says', { timeout: 20_000 }, async () => {
  const frames = frameBytes('pds-capture/frames.bin');
  assert.equal(frames.length, 305);
  // The capture has no identity event without a handle: one made here.
  const noHandle = encodeFrame(
    { op: 1, t: '#identity' },
    { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', seq: 306, time: '2026-11-27T14:30:00.000Z' },
  );
  const all = [...frames, noHandle];

  const ing = ingester();
  assert.deepEqual(await writeAll(ing, all), { flushed: true, pendingFrames: 0 });
  assert.equal(await redis.get(CURSOR_KEY), '306', 'the cursor key holds the last seq after close()');

  // The producer made the stream, not the group: that is the consumers' job.
  assert.equal(await redis.type(STREAM_KEY), 'stream');
  assert.deepEqual(await redis.xinfo('GROUPS', STREAM_KEY), [], 'the writer created a consumer group');
  // Dashboard keys stay off unless asked for.
  assert.equal(await redis.exists(RECENT_KEY, STATUS_KEY), 0);

  await ensureGroup(redis);
  await ensureGroup(redis); // a second worker starting: BUSYGROUP, ignored
  const consumed = await consume(redis, Infinity, 1000);
  const expected = assertEntries(consumed, all);

  // What the capture holds, as its README counts it.
  const byType = (t: string) => consumed.filter((c) => c.type === t).length;
  assert.equal(byType('commit'), 269);
  assert.equal(byType('identity'), 13);
  assert.equal(byType('account'), 14);
  assert.equal(consumed.length, 305 - 10 + 1, '#sync frames make no entry');
  const syncSeqs = frames.filter((f) => decodeIndependently(f).header.t === '#sync').map((f) => String(seqOf(f)));
  assert.equal(syncSeqs.length, 10);
  for (const s of syncSeqs) assert.ok(!consumed.some((c) => c.seq === s), `#sync seq ${s} made an entry`);

  // Every consumed entry acknowledged: nothing left pending, nothing retried.
  const pending = (await redis.xpending(STREAM_KEY, GROUP)) as [number, ...unknown[]];
  assert.equal(pending[0], 0);

  // Empty commits (new accounts): one entry each, with ops [].
  const empty = consumed.filter((c) => c.type === 'commit' && c.data.ops.length === 0);
  assert.equal(empty.length, expected.filter((e) => e.type === 'commit' && e.data.ops.length === 0).length);
  assert.ok(empty.length >= 9, `${empty.length} empty commits; the capture made 9 accounts`);
  for (const e of empty) assert.match(e.fields[3]!, /"ops":\[\]/);

  // The identity event without a handle carries the did as its handle.
  const last = consumed[consumed.length - 1]!;
  assert.deepEqual([last.type, last.seq, last.data.handle], ['identity', '306', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz']);

  // The kitchensink records: $link, $bytes, big and negative integers as written.
  const sinks = consumed.flatMap((c) =>
    c.type === 'commit' ? c.data.ops.filter((op: Json) => op.path.startsWith('com.example.pdspeer.kitchensink/')).map((op: Json) => ({ op, raw: c.fields[3]! })) : [],
  );
  assert.equal(sinks.length, 2);
  for (const { op, raw } of sinks) {
    assert.equal(op.record.$type, 'com.example.pdspeer.kitchensink');
    assert.deepEqual(Object.keys(op.record.link), ['$link']);
    assertCidString(op.record.link.$link, 'kitchensink link');
    assert.deepEqual(Object.keys(op.record.bytes), ['$bytes']);
    assert.ok(op.record.bytes.$bytes.length > 0);
    assert.ok(Number.isInteger(op.record.int) && Number.isInteger(op.record.bigInt) && op.record.zero === 0);
    // Integers as JSON integers in the text itself, not floats or strings.
    assert.ok(raw.includes(`"bigInt":${op.record.bigInt}`), 'bigInt written as a plain integer');
    assert.ok(raw.includes(`"int":${op.record.int}`), 'int written as a plain integer');
    assert.equal(op.record.str, 'unicode \u2713 "quotes" \\ back\nslash \u0000nul \u00e9 \u{1f98b}', 'strings survive JSON escaping');
  }
  // Blob refs are links too.
  const blobRefs = consumed.flatMap((c) =>
    c.type === 'commit' ? c.data.ops.flatMap((op: Json) => (op.record?.embed?.images ?? []).map((img: Json) => img.image)) : [],
  );
  assert.ok(blobRefs.length > 0, 'the capture has image posts');
  for (const b of blobRefs) {
    assert.equal(b.$type, 'blob');
    assert.deepEqual(Object.keys(b.ref), ['$link']);
    assertCidString(b.ref.$link, 'blob ref');
  }
});

test('jetstream corpus: a consumer running alongside the writer, its group made first with MKSTREAM', { timeout: 20_000 }, async () => {
  const frames = frameBytes('jetstream-corpus/frames.bin');
  assert.equal(frames.length, 100);
  // The consumer starts first: the stream exists (empty, with a group) before the writer.
  await ensureGroup(redis);
  const reading = consume(redis, frames.map(expectedEntry).filter(Boolean).length, 5000);

  const ing = ingester();
  assert.equal(await ing.cursor(), null, 'no saved cursor yet');
  for (let i = 0; i < frames.length; i += 10) {
    for (const f of frames.slice(i, i + 10)) assert.notEqual(ing.push(f), false);
    await sleep(5);
  }
  assert.deepEqual(await ing.close(10_000), { flushed: true, pendingFrames: 0 });
  const consumed = await reading;
  assertEntries(consumed, frames);
  assert.equal(await redis.get(CURSOR_KEY), String(seqOf(frames[99]!)));
  assert.equal(consumed[consumed.length - 1]!.seq, String(seqOf(frames[99]!)));
  // Only the consumers' group; the writer added none.
  const groups = (await redis.xinfo('GROUPS', STREAM_KEY)) as unknown[][];
  assert.equal(groups.length, 1);
  assert.equal(groups[0]![1], GROUP);
});

test('REDIS_MAX_STREAM_LEN: MAXLEN ~ 100 keeps the stream near 100; 0 does not trim', { timeout: 20_000 }, async () => {
  const base = frameBytes('jetstream-corpus/frames.bin');
  const stream = syntheticStream(base, 2000, 1);

  const capped = ingester({ maxStreamLen: 100 });
  const capLog = recordEvents(capped);
  assert.deepEqual(await writeAll(capped, stream.map((f) => f.bytes)), { flushed: true, pendingFrames: 0 });
  const written = capLog.filter((e) => e.event === 'batch').reduce((n, e) => n + (e.args[0] as { entries: number }).entries, 0);
  assert.equal(written, 2000, 'every frame of the jetstream corpus makes an entry');
  const len = await redis.xlen(STREAM_KEY);
  assert.ok(len >= 100 && len < 2000, `XLEN ${len}: MAXLEN ~ 100 trims approximately`);
  // What is left is the newest entries, in order.
  const kept = await readStream(redis);
  assert.deepEqual(
    kept.map((e) => e.fields[5]),
    Array.from({ length: len }, (_, i) => String(2000 - len + 1 + i)),
  );
  assert.equal(await redis.get(CURSOR_KEY), '2000');

  await redis.flushall();
  const uncapped = ingester({ maxStreamLen: 0 });
  assert.deepEqual(await writeAll(uncapped, stream.map((f) => f.bytes)), { flushed: true, pendingFrames: 0 });
  assert.equal(await redis.xlen(STREAM_KEY), 2000, 'maxStreamLen 0: no trimming');
  assert.equal(await redis.get(CURSOR_KEY), '2000');
});

test('firehose:status: JSON {connected, url, currentCursor}, SETEX 10 s', { timeout: 20_000 }, async () => {
  const frames = frameBytes('pds-capture/frames.bin').slice(0, 20);
  const ing = ingester({ dashboardStatus: true });
  try {
    await ing.cursor();
    // Written as soon as the writer is up, before any relay connection.
    const first = JSON.parse((await until('the status key', 3000, () => redis.get(STATUS_KEY)))!);
    assert.deepEqual(Object.keys(first), ['connected', 'url', 'currentCursor']);
    assert.equal(first.connected, false);
    assert.equal(first.currentCursor, null, 'no cursor yet');

    for (const f of frames) ing.push(f);
    await until('the last batch', 5000, async () => (await redis.get(CURSOR_KEY)) === '20');
    ing.setStatus(true, 'wss://relay.example.com');
    const status = await until('the refreshed status', 3000, async () => {
      const s = JSON.parse((await redis.get(STATUS_KEY)) ?? 'null');
      return s?.connected === true ? s : null;
    });
    assert.deepEqual(status, { connected: true, url: 'wss://relay.example.com', currentCursor: '20' });
    const ttl = await redis.ttl(STATUS_KEY);
    assert.ok(ttl > 0 && ttl <= 10, `TTL ${ttl}`);

    ing.setStatus(false, 'wss://relay.example.com');
    await until('connected: false', 3000, async () => JSON.parse((await redis.get(STATUS_KEY)) ?? 'null')?.connected === false);
  } finally {
    await ing.close(5000);
  }
});

test('firehose:recent_events and firehose:events:broadcast: event summaries, newest first', { timeout: 20_000 }, async () => {
  const frames = frameBytes('pds-capture/frames.bin');
  const sub = server.client();
  const messages: string[] = [];
  sub.on('message', (channel: string, message: string) => {
    if (channel === BROADCAST) messages.push(message);
  });
  await sub.subscribe(BROADCAST);

  const ing = ingester({ dashboardRecentEvents: true, dashboardBroadcast: true });
  assert.deepEqual(await writeAll(ing, frames), { flushed: true, pendingFrames: 0 });

  // Which events have a summary: every identity and account event, and every commit with an op.
  const entries = (await readStream(redis)).map((e) => ({ type: e.fields[1]!, data: JSON.parse(e.fields[3]!) }));
  const summarized = entries.filter((e) => e.type !== 'commit' || e.data.ops.length > 0);
  const expect = summarized.map((e) =>
    e.type === 'commit'
      ? { type: '#commit', lexicon: e.data.ops[0].path.split('/')[0], did: e.data.repo, action: e.data.ops[0].action }
      : { type: `#${e.type}`, did: e.data.did },
  );
  const shape = (text: string) => {
    const s = JSON.parse(text);
    assert.deepEqual(Object.keys(s), ['type', 'lexicon', 'did', 'action', 'timestamp'], text);
    assert.match(s.timestamp, /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$/, text);
    assert.equal(typeof s.lexicon, 'string');
    assert.equal(typeof s.action, 'string');
    return s.type === '#commit'
      ? { type: s.type, lexicon: s.lexicon, did: s.did, action: s.action }
      : { type: s.type, did: s.did };
  };

  const recentText = await redis.get(RECENT_KEY);
  assert.ok(recentText, 'firehose:recent_events is set');
  const recent = JSON.parse(recentText);
  assert.ok(Array.isArray(recent));
  assert.equal(recent.length, 50, 'the last 50 events');
  assert.deepEqual(recent.map((s: Json) => shape(JSON.stringify(s))), expect.slice(-50).reverse(), 'newest first');
  const ttl = await redis.ttl(RECENT_KEY);
  assert.ok(ttl > 0 && ttl <= 10, `TTL ${ttl}`);

  await until(`${expect.length} broadcast messages (have ${messages.length})`, 3000, () => messages.length >= expect.length);
  await sleep(100);
  assert.equal(messages.length, expect.length, 'one message per event that has a summary');
  assert.deepEqual(messages.map(shape), expect, 'in stream order');
});
