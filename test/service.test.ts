/**
 * The service as an operator runs it: `node dist/src/cli.js` as a child
 * process, against a fake relay and a redis-server of the test's own.
 * Relay connection, resume, backoff, keepalive, error frames, shutdown,
 * settings, health, metrics, dashboard, fallback relays and the other
 * commands.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { syntheticStream } from '../bench/corpus.js';
import { readCapture } from '../src/capture.js';
import { createDecoder } from '../src/decoder.js';
import { FakeRelay, errorFrame, infoFrame, type RelayConnection, type RelayFrame } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer, freePort } from './support/redis.js';
import { LEVEL, ServiceProcess, runCli, serviceTestKit, type LogLine, type StartOptions } from './support/service-process.js';

const STREAM = 'firehose:events';
const CURSOR = 'firehose:python_cursor';
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 400;
const STALL_TIMEOUT_MS = 1000;
const PING_INTERVAL_MS = 300;

/** Real relay frames (99 commits, 1 identity): every one becomes an entry. */
const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);
/** A real PDS's frames: commits (some empty), identity, account and 10 #sync. */
const PDS = readFrames('pds-capture', 'frames.bin').map((f) => f.bytes);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stream(count: number, firstSeq = 1): RelayFrame[] {
  return syntheticStream(JETSTREAM, count, firstSeq);
}

// ---------------------------------------------------------------- fixtures

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-service-'));

/** The services of the running test, whose logs a failed wait shows. */
const { cleanups, services, until, redisServer, fakeRelay } = serviceTestKit();
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function service(relayUrl: string, redisUrl: string, opts: StartOptions = {}): Promise<ServiceProcess> {
  const svc = await ServiceProcess.start({ ...opts, env: { RELAY_URL: relayUrl, REDIS_URL: redisUrl, ...opts.env } });
  services.push(svc);
  return svc;
}

interface Entry {
  id: string;
  fields: string[];
  type: string;
  data: any;
  seq: string;
}

async function readStream(redis: Redis, key = STREAM): Promise<Entry[]> {
  const raw = (await redis.xrange(key, '-', '+')) as Array<[string, string[]]>;
  return raw.map(([id, fields]) => ({ id, fields, type: fields[1]!, data: JSON.parse(fields[3]!), seq: fields[5]! }));
}

/** The stream holds seq first..last, each once, in order, fields in contract order. */
async function assertExactlyOnce(redis: Redis, first: number, last: number): Promise<Entry[]> {
  const entries = await readStream(redis);
  const seqs = entries.map((e) => Number(e.seq));
  const want = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  if (seqs.length !== want.length || seqs.some((s, i) => s !== want[i])) {
    const dup = seqs.filter((s, i) => seqs.indexOf(s) !== i);
    const missing = want.filter((s) => !seqs.includes(s));
    assert.fail(`stream has ${seqs.length} entries, want ${want.length}; duplicates: ${dup.slice(0, 10)}; missing: ${missing.slice(0, 10)}`);
  }
  for (const e of entries.slice(0, 5)) assert.deepEqual([e.fields[0], e.fields[2], e.fields[4]], ['type', 'data', 'seq']);
  return entries;
}

const waitForCursor = (redis: Redis, want: string | number, timeoutMs = 15_000, key = CURSOR) =>
  until(async () => (await redis.get(key)) === String(want), timeoutMs, `${key} = ${want}`);

const isEnded = (l: LogLine) => /^relay connection ended/.test(l.msg);

// ------------------------------------------------------------------ resume

test('resume after SIGKILL: the new connection asks for the stored cursor; every seq once, in order', async () => {
  const { redis, server } = await redisServer({ appendonly: true });
  const frames = stream(3000, 1001);
  const relay = await fakeRelay(frames, { intervalMs: 1 });
  const first = await service(relay.url, server.url);
  await until(async () => (await redis.xlen(STREAM)) >= 800, 20_000, '800 entries before the kill');
  await first.kill();
  assert.equal(first.status?.signal, 'SIGKILL');
  const stored = await redis.get(CURSOR);
  assert.ok(stored !== null && /^\d+$/.test(stored), `cursor after the kill: ${stored}`);
  // The cursor is written with the entries: the newest entry is the cursor.
  const newest = (await redis.xrevrange(STREAM, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  assert.equal(newest[0]![1][5], stored);
  assert.ok(Number(stored) < 4000, 'killed before the end of the stream');

  const second = await service(relay.url, server.url);
  await waitForCursor(redis, 4000, 30_000);
  assert.equal(relay.connections.length, 2);
  assert.equal(relay.connections[0]!.cursor, null, 'first start: no saved cursor, live');
  assert.equal(relay.connections[1]!.cursor, stored);
  await second.waitForMsg(new RegExp(`resuming from cursor ${stored}`));
  await assertExactlyOnce(redis, 1001, 4000);
});

test('a relay that drops the connection every 300 frames: no loss, no duplicates, backoff within bounds', async () => {
  const { redis, server } = await redisServer();
  const frames = stream(1500);
  const relay = await fakeRelay(frames, { dropEvery: 300 });
  const svc = await service(relay.url, server.url);
  await waitForCursor(redis, 1500, 30_000);
  await assertExactlyOnce(redis, 1, 1500);
  // 1500 frames in connections of 300: 5 full connections, each ended by the relay.
  await until(() => relay.connections.length >= 6, 5000, 'a sixth connection');
  const ended = svc.logs.filter(isEnded);
  assert.ok(ended.length >= 5, `${ended.length} reconnects logged`);
  ended.forEach((l, n) => {
    assert.equal(l.reason, 'closed');
    assert.equal(l.level, LEVEL.warn);
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** n);
    assert.ok(Number.isInteger(l.delayMs) && (l.delayMs as number) >= 0 && (l.delayMs as number) <= ceiling, `reconnect ${n}: delay ${l.delayMs} > ${ceiling}`);
  });
  // Each connection resumed right after the last frame of the one before.
  assert.ok(relay.connections.length >= 6);
  relay.connections.slice(0, 6).forEach((c, i) => assert.equal(c.cursor, i === 0 ? null : String(300 * i)));
});

// --------------------------------------------------------------- keepalive

/** A script: connection 0 gets `count` frames, then silence (the socket stays open); later ones are served. */
function silentAfterFirst(count: number, sent: { at?: number }) {
  return async (conn: RelayConnection, relay: FakeRelay): Promise<'serve' | 'done'> => {
    if (conn.index > 0) return 'serve';
    for (const f of relay.frames.slice(0, count)) await relay.send(conn, f.bytes);
    sent.at = Date.now();
    return 'done';
  };
}

test('a relay gone silent is dropped as stalled within STALL_TIMEOUT_MS, and resumed from the cursor', async () => {
  const { redis, server } = await redisServer();
  const sent: { at?: number } = {};
  const relay = await fakeRelay(stream(400), { script: silentAfterFirst(200, sent) });
  const svc = await service(relay.url, server.url);
  const ended = await svc.waitForLog(isEnded, 10_000);
  assert.equal(ended.reason, 'stall', ended.msg);
  const after = ended.time - sent.at!;
  // Checked every STALL_TIMEOUT_MS / 4: detected within one check after the deadline.
  assert.ok(after >= STALL_TIMEOUT_MS - 50, `dropped after only ${after} ms of silence`);
  assert.ok(after <= STALL_TIMEOUT_MS + STALL_TIMEOUT_MS / 4 + 500, `stall noticed after ${after} ms`);
  await waitForCursor(redis, 400);
  assert.equal(relay.connections[1]!.cursor, '200');
  await assertExactlyOnce(redis, 1, 400);
});

test('a relay that answers no pings (and sends nothing) is detected within the bound', async () => {
  const { server } = await redisServer();
  const sent: { at?: number } = {};
  const relay = await fakeRelay(stream(100), { answerPings: false, script: silentAfterFirst(20, sent) });
  const svc = await service(relay.url, server.url);
  const ended = await svc.waitForLog(isEnded, 10_000);
  assert.ok(ended.reason === 'ping-timeout' || ended.reason === 'stall', ended.msg);
  const after = ended.time - sent.at!;
  assert.ok(after <= STALL_TIMEOUT_MS + STALL_TIMEOUT_MS / 4 + 500, `dead relay noticed after ${after} ms`);
  // A missing pong is caught at the second ping tick, before the stall timer.
  assert.equal(ended.reason, 'ping-timeout');
  assert.ok(ended.time - relay.connections[0]!.at <= 2 * PING_INTERVAL_MS + 500);
  await until(() => relay.connections.length >= 2, 5000, 'a new connection');
});

// ------------------------------------------------------------ error frames

test('FutureCursor: an error line, and the next attempt waits RECONNECT_MAX_MS', async () => {
  const { redis, server } = await redisServer();
  await redis.set(CURSOR, '5000');
  // A relay behind our cursor at first, then caught up with it.
  const relay = await fakeRelay(stream(300, 5001), {
    script: async (conn, r) => {
      if (conn.index > 0) return 'serve';
      await r.send(conn, errorFrame('FutureCursor', 'Cursor in the future.'));
      conn.ws.close(1000);
      return 'done';
    },
  });
  const svc = await service(relay.url, server.url);
  const err = await svc.waitForLog((l) => l.error === 'FutureCursor', 10_000);
  assert.equal(err.level, LEVEL.error);
  assert.match(err.msg, /5000/);
  const ended = await svc.waitForLog(isEnded, 5000);
  assert.equal(ended.reason, 'future-cursor');
  assert.equal(ended.delayMs, RECONNECT_MAX_MS);
  assert.equal(ended.level, LEVEL.error);
  await until(() => relay.connections.length >= 2, 5000, 'a second connection');
  assert.ok(relay.connections[1]!.at - relay.connections[0]!.at >= RECONNECT_MAX_MS - 20, 'waited the longest backoff');
  assert.equal(relay.connections[0]!.cursor, '5000');
  await waitForCursor(redis, 5300);
});

test('ConsumerTooSlow: a warning, and the next connection resumes from the stored cursor', async () => {
  const { redis, server } = await redisServer();
  const frames = stream(800);
  const relay = await fakeRelay(frames, {
    script: async (conn, r) => {
      if (conn.index > 0) return 'serve';
      for (const f of r.frames.slice(0, 500)) await r.send(conn, f.bytes);
      await r.send(conn, errorFrame('ConsumerTooSlow', 'Stream consumer too slow'));
      setTimeout(() => conn.ws.close(1008), 50);
      return 'done';
    },
  });
  const svc = await service(relay.url, server.url);
  const warn = await svc.waitForLog((l) => l.error === 'ConsumerTooSlow', 10_000);
  assert.equal(warn.level, LEVEL.warn);
  const ended = await svc.waitForLog(isEnded, 5000);
  assert.equal(ended.reason, 'consumer-too-slow');
  await waitForCursor(redis, 800);
  assert.equal(relay.connections.length, 2);
  // Everything received was written before reconnecting: the stored cursor was 500.
  assert.equal(relay.connections[1]!.cursor, '500');
  await svc.waitForMsg(/^connecting to .* from cursor 500$/);
  await assertExactlyOnce(redis, 1, 800);
});

test('#info OutdatedCursor: a warning, no reconnect', async () => {
  const { redis, server } = await redisServer();
  const relay = await fakeRelay(stream(300), {
    script: async (conn, r) => {
      await r.send(conn, infoFrame('OutdatedCursor', 'Requested cursor exceeded limit. Possibly missing events'));
      return 'serve';
    },
  });
  const svc = await service(relay.url, server.url);
  const warn = await svc.waitForLog((l) => l.info === 'OutdatedCursor', 10_000);
  assert.equal(warn.level, LEVEL.warn);
  await waitForCursor(redis, 300);
  await sleep(300);
  assert.equal(relay.connections.length, 1);
  assert.deepEqual(svc.logs.filter(isEnded), []);
  await assertExactlyOnce(redis, 1, 300);
});

// ---------------------------------------------------------------- shutdown

test('SIGTERM: flushes, exits 0 within SHUTDOWN_TIMEOUT_MS, cursor = the last entry', async () => {
  const { redis, server } = await redisServer();
  const relay = await fakeRelay(stream(5000), { intervalMs: 1 });
  const svc = await service(relay.url, server.url, { env: { SHUTDOWN_TIMEOUT_MS: '3000' } });
  await until(async () => (await redis.xlen(STREAM)) >= 300, 15_000, '300 entries');
  const t0 = Date.now();
  svc.signal('SIGTERM');
  const status = await svc.waitForExit(3000 + 2000);
  assert.deepEqual(status, { code: 0, signal: null }, svc.tail());
  assert.ok(Date.now() - t0 <= 3000 + 1000, `exit took ${Date.now() - t0} ms`);
  const entries = await readStream(redis);
  assert.ok(entries.length < 5000, 'stopped mid-stream');
  assert.equal(await redis.get(CURSOR), entries.at(-1)!.seq);
  await assertExactlyOnce(redis, 1, entries.length);
  const clean = svc.find(/^stopped cleanly/);
  assert.equal(clean.length, 1);
  assert.equal(clean[0]!.cursor, entries.at(-1)!.seq);
  assert.equal(svc.find(/^shutting down/)[0]?.reason, 'SIGTERM');
});

/** A service that has frames it cannot write: Redis was killed under it. */
async function serviceWithRedisDown(shutdownTimeoutMs: number) {
  const { redis, server } = await redisServer();
  const relay = await fakeRelay(stream(5000), { intervalMs: 1 });
  const svc = await service(relay.url, server.url, { env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) } });
  await until(async () => (await redis.xlen(STREAM)) >= 100, 15_000, '100 entries');
  await server.kill();
  await svc.waitForLog((l) => l.level === LEVEL.warn && typeof l.attempt === 'number', 10_000);
  await sleep(200); // more frames arrive meanwhile
  return svc;
}

test('SIGTERM while Redis is down: exits within SHUTDOWN_TIMEOUT_MS and says how many frames were not written', async () => {
  const svc = await serviceWithRedisDown(1500);
  const t0 = Date.now();
  svc.signal('SIGTERM');
  const status = await svc.waitForExit(1500 + 3000);
  const took = Date.now() - t0;
  assert.ok(took <= 1500 + 1500, `exit took ${took} ms`);
  assert.equal(status.signal, null);
  assert.notEqual(status.code, 0, 'frames were lost: not a clean exit');
  const line = await svc.waitForMsg(/^stopped with \d+ frames unwritten/, 0);
  assert.equal(line.level, LEVEL.error);
  assert.ok(typeof line.pendingFrames === 'number' && line.pendingFrames > 0, JSON.stringify(line));
  assert.match(line.msg, new RegExp(`^stopped with ${line.pendingFrames} frames unwritten`));
});

test('a second SIGTERM exits at once', async () => {
  const svc = await serviceWithRedisDown(20_000);
  svc.signal('SIGTERM');
  await svc.waitForMsg(/^shutting down/, 5000);
  await sleep(300); // a repeat within 250 ms is the same Ctrl-C (npm forwards it too)
  assert.ok(svc.alive, 'still flushing after the first signal');
  const t0 = Date.now();
  svc.signal('SIGTERM');
  const status = await svc.waitForExit(2000);
  assert.ok(Date.now() - t0 < 1000, `second signal took ${Date.now() - t0} ms`);
  assert.deepEqual(status, { code: 1, signal: null });
  assert.equal(svc.find(/^second SIGTERM: exiting at once/).length, 1);
});

// ---------------------------------------------------------------- settings

test('bad settings: exit 2, one line on stderr naming the variable, no stack trace', async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL'],
    [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    [{ REDIS_MAX_STREAM_LEN: '-1' }, 'REDIS_MAX_STREAM_LEN'],
    [{ BATCH_MAX_EVENTS: 'abc' }, 'BATCH_MAX_EVENTS'],
    [{ RELAY_URL: 'http://x' }, 'RELAY_URL'],
  ];
  const runs = await Promise.all(cases.map(([env]) => runCli([], { bare: true, env: { ...env, LOG_FORMAT: 'json', HTTP_PORT: '0' } })));
  runs.forEach((r, i) => {
    const [env, name] = cases[i]!;
    const what = `${JSON.stringify(env)}: ${JSON.stringify(r.stderr)}`;
    assert.deepEqual(r.status, { code: 2, signal: null }, what);
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 2, what); // one line and its newline
    assert.equal(lines[1], '');
    assert.match(lines[0]!, new RegExp(`^firehose-redis: ${name} `), what);
    assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/, what);
    assert.equal(r.logs.length, 0, 'fails before it starts');
  });
  assert.match(runs[1]!.stderr, /"http:"/);
  const bogus = await runCli(['bogus-command'], { bare: true });
  assert.deepEqual(bogus.status, { code: 2, signal: null });
  assert.match(bogus.stderr, /^firehose-redis: unknown command "bogus-command"/);
  assert.equal(bogus.stderr.trim().split('\n').length, 1);
});

test('Redis unreachable at start: warnings with the attempt number, no crash; writes once it is up', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  await server.kill(); // its port is now free: nothing listens there
  const relay = await fakeRelay(stream(200));
  const svc = await service(relay.url, server.url);
  const warns: LogLine[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const w = await svc.waitForLog((l) => l.level === LEVEL.warn && l.attempt === attempt, 10_000);
    assert.match(w.msg, new RegExp(`attempt ${attempt}\\)`));
    assert.match(w.msg, new RegExp(String(server.port)));
    warns.push(w);
  }
  assert.ok(svc.alive);
  assert.equal(relay.connections.length, 0, 'no relay connection before the cursor is known');
  const health = await svc.http('/healthz');
  assert.equal(health.status, 503);
  assert.ok(health.json().reasons.some((r: string) => r.startsWith('redis:')), health.body);
  await server.restart();
  const redis = server.client();
  await svc.waitForMsg(/^Redis ready/, 10_000);
  await waitForCursor(redis, 200);
  await assertExactlyOnce(redis, 1, 200);
  assert.ok(svc.alive);
});

// ------------------------------------------------------- health, metrics

/** A relay whose every connection serves from its cursor at intervalMs, and sends nothing while ctl.silent. */
function controllableRelay(ctl: { silent: boolean }, intervalMs: number) {
  return async (conn: RelayConnection, r: FakeRelay): Promise<'serve' | 'done'> => {
    const after = conn.cursor === null ? -Infinity : Number(conn.cursor);
    let i = r.frames.findIndex((f) => f.seq > after);
    if (i < 0) i = r.frames.length;
    while (conn.ws.readyState === conn.ws.OPEN) {
      if (ctl.silent || i >= r.frames.length) {
        await sleep(20);
        continue;
      }
      await r.send(conn, r.frames[i++]!.bytes);
      await sleep(intervalMs);
    }
    return 'done';
  };
}

async function healthOf(svc: ServiceProcess): Promise<{ status: number; reasons: string[] }> {
  const h = await svc.http('/healthz');
  return { status: h.status, reasons: h.json().reasons };
}

test('/healthz follows the relay: 503 (relay:) while it is silent past STALL_TIMEOUT_MS, 200 when data flows again', async () => {
  const { server } = await redisServer();
  const ctl = { silent: false };
  const relay = await fakeRelay(stream(20_000), { script: controllableRelay(ctl, 5) });
  const svc = await service(relay.url, server.url);
  const ok = await until(async () => {
    const h = await healthOf(svc);
    return h.status === 200 && h;
  }, 10_000, 'healthy');
  assert.deepEqual(ok.reasons, []);

  ctl.silent = true;
  const silentAt = Date.now();
  // Until the timeout, silence is tolerated.
  await sleep(STALL_TIMEOUT_MS / 2);
  assert.equal((await healthOf(svc)).status, 200);
  // Past it, the service is not doing its job, whatever it tries meanwhile
  // (it reconnects, the relay accepts and again sends nothing).
  await sleep(silentAt + STALL_TIMEOUT_MS + 300 - Date.now());
  const samples: Array<{ status: number; reasons: string[]; at: number }> = [];
  while (Date.now() - silentAt < 3 * STALL_TIMEOUT_MS + 500) {
    samples.push({ ...(await healthOf(svc)), at: Date.now() - silentAt });
    await sleep(50);
  }
  const healthy = samples.filter((s) => s.status !== 503 || !s.reasons.some((r) => r.startsWith('relay:')));
  assert.deepEqual(
    healthy.map((s) => `${s.at} ms: ${s.status}`),
    [],
    `${healthy.length} of ${samples.length} answers did not report the relay while it was silent for more than ${STALL_TIMEOUT_MS} ms`,
  );
  assert.ok(svc.logs.filter(isEnded).some((l) => l.reason === 'stall'), 'the service did reconnect meanwhile');

  ctl.silent = false;
  await until(async () => (await healthOf(svc)).status === 200, 5000, 'healthy again');
});

test('/healthz follows Redis: 503 (redis:) while it is down, 200 after restart', async () => {
  const { server } = await redisServer({ appendonly: true });
  const relay = await fakeRelay(stream(20_000), { intervalMs: 5 });
  const svc = await service(relay.url, server.url);
  await until(async () => (await healthOf(svc)).status === 200, 10_000, 'healthy');
  await server.kill();
  const down = await until(async () => {
    const h = await healthOf(svc);
    return h.status === 503 && h;
  }, 10_000, 'unhealthy');
  assert.ok(down.reasons.some((r) => r.startsWith('redis:')), down.reasons.join('; '));
  await server.restart();
  await until(async () => (await healthOf(svc)).status === 200, 10_000, 'healthy after restart');
  const redis = server.client();
  const before = await redis.xlen(STREAM);
  await until(async () => (await redis.xlen(STREAM)) > before, 5000, 'writing again');
});

/** Prometheus text: `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

function sumOf(m: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}

test('/metrics after a run: events = XLEN, cursor = the cursor key, sync frames = those sent', async () => {
  const { redis, server } = await redisServer();
  const frames = PDS.map((bytes, i) => ({ seq: i + 1, bytes }));
  const decoder = createDecoder();
  const syncSent = PDS.filter((f) => decoder.decode(f).frame === '#sync').length;
  assert.equal(syncSent, 10);
  const relay = await fakeRelay(frames);
  const svc = await service(relay.url, server.url, { env: { REDIS_MAX_STREAM_LEN: '0' } });
  await waitForCursor(redis, 305);
  const xlen = await redis.xlen(STREAM);
  assert.equal(xlen, 295);
  const m = await until(async () => {
    const mm = parseMetrics((await svc.http('/metrics')).body);
    return sumOf(mm, 'firehose_events_total') === xlen && mm;
  }, 5000, 'metrics caught up');
  assert.equal(sumOf(m, 'firehose_events_total'), xlen);
  assert.equal(m.get('firehose_events_total{type="commit"}'), 269);
  assert.equal(m.get('firehose_cursor'), Number(await redis.get(CURSOR)));
  assert.equal(m.get('firehose_frames_total{kind="sync"}'), syncSent);
  assert.equal(m.get('firehose_relay_connected'), 1);
  assert.equal(m.get('firehose_redis_up'), 1);
  assert.equal(relay.connections.length, 1);
});

test('COLLECTIONS=app.bsky.feed.like end to end: only like ops, no empty commits', async () => {
  const { redis, server } = await redisServer();
  const frames = PDS.map((bytes, i) => ({ seq: i + 1, bytes }));
  // Independently of the filter: the commits that hold at least one like.
  const decoder = createDecoder();
  const withLikes = PDS.map((f) => decoder.decode(f)).filter(
    (r) => r.kind === 'entry' && r.type === 'commit' && JSON.parse(r.data).ops.some((op: any) => op.path.startsWith('app.bsky.feed.like/')),
  );
  assert.ok(withLikes.length > 20);
  const relay = await fakeRelay(frames);
  await service(relay.url, server.url, { env: { COLLECTIONS: 'app.bsky.feed.like' } });
  await waitForCursor(redis, 305);
  const entries = await readStream(redis);
  const commits = entries.filter((e) => e.type === 'commit');
  assert.deepEqual(commits.map((e) => Number(e.seq)), withLikes.map((r) => r.seq));
  for (const e of commits) {
    assert.ok(e.data.ops.length > 0, `empty commit written at seq ${e.seq}`);
    for (const op of e.data.ops) assert.match(op.path, /^app\.bsky\.feed\.like\//, `seq ${e.seq}`);
  }
  assert.ok(entries.every((e) => ['commit', 'identity', 'account'].includes(e.type)));
});

test('dashboard: firehose:status says connected, names the relay and follows the cursor', async () => {
  const { redis, server } = await redisServer();
  const relay = await fakeRelay(stream(300));
  // A long stall timeout: the relay sends 300 frames, then stays quiet and connected.
  await service(relay.url, server.url, { env: { STALL_TIMEOUT_MS: '30000' } });
  await waitForCursor(redis, 300);
  // Refreshed every ~5 s.
  const status = await until(async () => {
    const s = JSON.parse((await redis.get('firehose:status')) ?? 'null');
    return s?.currentCursor === '300' && s;
  }, 8000, 'firehose:status with currentCursor 300');
  assert.equal(status.connected, true);
  assert.equal(status.url, relay.url);
  const ttl = await redis.ttl('firehose:status');
  assert.ok(ttl > 0 && ttl <= 10, `ttl ${ttl}`);
  // The relay goes away: the dashboard says so.
  await relay.close();
  await until(async () => JSON.parse((await redis.get('firehose:status')) ?? 'null')?.connected === false, 3000, 'connected: false');
});

// -------------------------------------------------------- fallback relays

test('RELAY_URLS: after repeated failures the service switches, warns of a gap, and resumes with the fallback\'s cursor key', async () => {
  const { redis, server } = await redisServer();
  const deadPort = await freePort();
  const relay = await fakeRelay(stream(400));
  const fallbackKey = `${CURSOR}:127.0.0.1:${relay.port}`;
  await redis.set(CURSOR, '999999'); // the primary's own numbering
  await redis.set(fallbackKey, '100');
  const primary = `ws://127.0.0.1:${deadPort}`;
  const svc = await service(primary, server.url, { env: { RELAY_URLS: relay.url } });
  const sw = await svc.waitForLog((l) => l.from !== undefined && l.to !== undefined, 10_000);
  assert.equal(sw.level, LEVEL.warn);
  assert.equal(sw.from, primary);
  assert.equal(sw.to, relay.url);
  assert.match(sw.msg, /possible gap/);
  const failures = svc.logs.filter(isEnded);
  assert.ok(failures.length >= 3, `switched after ${failures.length} failures`);
  assert.ok(failures.every((l) => l.reason === 'error'));
  await waitForCursor(redis, 400, 10_000, fallbackKey);
  assert.equal(relay.connections[0]!.cursor, '100');
  await assertExactlyOnce(redis, 101, 400);
  assert.equal(await redis.get(CURSOR), '999999');
});

// ------------------------------------------------------- the other commands

test('replay of a missing file: one line, exit code 1, nothing written', async () => {
  const { redis, server } = await redisServer();
  const missing = await runCli(['replay', path.join(tmp, 'no-such.bin')], { env: { REDIS_URL: server.url } });
  assert.deepEqual(missing.status, { code: 1, signal: null });
  assert.match(missing.stderr, /^firehose-redis: cannot read capture .*no-such\.bin: no such file\n$/);
  assert.deepEqual(await redis.keys('*'), []);
});

test('record --count 50 saves the first 50 messages byte for byte; decode prints their 50 entries', async () => {
  const frames = stream(500);
  const relay = await fakeRelay(frames);
  const file = path.join(tmp, 'record.bin');
  const r = await runCli(['record', file, '--count', '50'], { env: { RELAY_URL: relay.url } });
  assert.deepEqual(r.status, { code: 0, signal: null }, r.stderr);
  const saved = readCapture(file);
  assert.equal(saved.length, 50, r.stderr);
  saved.forEach((f, i) => assert.ok(f.bytes.equals(frames[i]!.bytes), `frame ${i} differs`));
  assert.match(r.stderr, /recorded 50 frames/);
  assert.equal(relay.connections[0]!.cursor, null);

  const d = await runCli(['decode', file]);
  assert.deepEqual(d.status, { code: 0, signal: null }, d.stderr);
  const lines = d.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(lines.length, 50);
  assert.deepEqual(lines.map((l) => l.seq), frames.slice(0, 50).map((f) => f.seq));
});
