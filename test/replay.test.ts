/**
 * `firehose-redis replay` as a new user runs it: the sample lands where no
 * worker reads, a rerun writes nothing twice, a stream that a service feeds
 * is refused unless asked for, and an unreachable Redis ends it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import type { Redis } from 'ioredis';
import { readCapture } from '../src/capture.js';
import { SAMPLE_CAPTURE } from '../src/commands/replay.js';
import { RedisServer, freePort } from './support/redis.js';
import { runCli, stopAllServices } from './support/service-process.js';

const STREAM = 'firehose:events';
const CURSOR = 'firehose:python_cursor';
const SAMPLE_STREAM = `${STREAM}:sample`;
const SAMPLE_FRAMES = readCapture(SAMPLE_CAPTURE);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-replay-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await stopAllServices();
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function redisServer(): Promise<{ server: RedisServer; redis: Redis }> {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  return { server, redis: server.client() };
}

async function seqsOf(redis: Redis, key: string): Promise<string[]> {
  return ((await redis.xrange(key, '-', '+')) as Array<[string, string[]]>).map(([, f]) => f[5]!);
}

function capture(name: string, frames: Buffer[]): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat(frames.flatMap((f) => [Buffer.from(Uint32Array.of(f.length).buffer), f])));
  return file;
}

test('the sample goes into a stream of its own, with its own cursor; the live keys stay untouched', async () => {
  const { redis, server } = await redisServer();
  const r = await runCli(['replay'], { env: { REDIS_URL: server.url } });
  assert.deepEqual(r.status, { code: 0, signal: null }, r.stderr);
  const seqs = await seqsOf(redis, SAMPLE_STREAM);
  assert.equal(seqs.length, 100);
  assert.equal(await redis.get(`${SAMPLE_STREAM}:replay-cursor`), seqs.at(-1));
  // Nothing a worker or the dashboard reads.
  // The stream's own lease and fence come with it (see README: exactly once).
  assert.deepEqual((await redis.keys('*')).sort(), [SAMPLE_STREAM, `${SAMPLE_STREAM}:fence`, `${SAMPLE_STREAM}:lease`, `${SAMPLE_STREAM}:replay-cursor`]);
  assert.match(r.stderr, new RegExp(`into ${SAMPLE_STREAM} \\(cursor key ${SAMPLE_STREAM}:replay-cursor\\)`));
  assert.match(r.stderr, /wrote 100 entries from 100 frames/);
});

test('a second run writes nothing new; a longer capture adds only the frames after the cursor', async () => {
  const { redis, server } = await redisServer();
  const env = { REDIS_URL: server.url };
  const first = await runCli(['replay'], { env });
  assert.deepEqual(first.status, { code: 0, signal: null }, first.stderr);
  const once = await seqsOf(redis, SAMPLE_STREAM);
  const again = await runCli(['replay'], { env });
  assert.deepEqual(again.status, { code: 0, signal: null }, again.stderr);
  assert.match(again.stderr, new RegExp(`frames up to seq ${once.at(-1)} are already written and are skipped`));
  const twice = await seqsOf(redis, SAMPLE_STREAM);
  assert.equal(twice.length, once.length, `the second run added ${twice.length - once.length} entries`);
  assert.deepEqual(twice, once);
  assert.match(again.stderr, /wrote 0 entries from 100 frames/);

  // The first 60 frames, then all 100: each event once, in order.
  const part = capture('first-60.bin', SAMPLE_FRAMES.slice(0, 60).map((f) => f.bytes));
  const stream = 'replayed';
  const a = await runCli(['replay', part, '--stream-key', stream], { env });
  assert.deepEqual(a.status, { code: 0, signal: null }, a.stderr);
  const b = await runCli(['replay', SAMPLE_CAPTURE, '--stream-key', stream], { env });
  assert.deepEqual(b.status, { code: 0, signal: null }, b.stderr);
  assert.deepEqual(await seqsOf(redis, stream), once);
  assert.match(b.stderr, /wrote 40 entries from 100 frames/);
});

test('refuses to write into a stream that a service feeds, unless --into-live-stream', async () => {
  const { redis, server } = await redisServer();
  const deadRelay = `ws://127.0.0.1:${await freePort()}`;
  const env = { REDIS_URL: server.url, RELAY_URL: deadRelay };
  await redis.set(CURSOR, '7');
  const refusals = await Promise.all([
    runCli(['replay', SAMPLE_CAPTURE], { env }),
    runCli(['replay', '--stream-key', STREAM], { env }),
  ]);
  for (const r of refusals) {
    assert.deepEqual(r.status, { code: 2, signal: null }, r.stderr);
    assert.equal(
      r.stderr,
      `firehose-redis: ${STREAM} is fed by a running service (${CURSOR} holds cursor 7): replayed events would reach its workers. ` +
        'Replay into another stream (--stream-key), or pass --into-live-stream to write into it anyway\n',
    );
  }
  // A fallback relay's cursor key counts as well.
  await redis.del(CURSOR);
  const fallback = `ws://127.0.0.1:${await freePort()}`;
  await redis.set(`${CURSOR}:${new URL(fallback).host}`, '9');
  const viaFallback = await runCli(['replay', SAMPLE_CAPTURE], { env: { ...env, RELAY_URLS: fallback } });
  assert.deepEqual(viaFallback.status, { code: 2, signal: null }, viaFallback.stderr);
  assert.match(viaFallback.stderr, new RegExp(`\\(${CURSOR}:127\\.0\\.0\\.1:\\d+ holds cursor 9\\)`));
  // The replay's cursor may never be the service's.
  const ownKey = await runCli(['replay', '--cursor-key', CURSOR], { env });
  assert.deepEqual(ownKey.status, { code: 2, signal: null }, ownKey.stderr);
  assert.match(ownKey.stderr, /^firehose-redis: firehose:python_cursor is the service's cursor key/);
  assert.equal(await redis.exists(STREAM, SAMPLE_STREAM), 0, 'nothing written by a refused replay');

  await redis.set(CURSOR, '7');
  const forced = await runCli(['replay', SAMPLE_CAPTURE, '--into-live-stream'], { env });
  assert.deepEqual(forced.status, { code: 0, signal: null }, forced.stderr);
  assert.equal(await redis.xlen(STREAM), 100);
  assert.equal(await redis.get(CURSOR), '7', 'the service cursor is not moved');
});

test('Redis unreachable: gives up with exit code 1 after REDIS_CONNECT_TIMEOUT_MS, saying so', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  const t0 = Date.now();
  const r = await runCli(['replay'], { env: { REDIS_URL: url, REDIS_CONNECT_TIMEOUT_MS: '1000' }, timeoutMs: 10_000 });
  const took = Date.now() - t0;
  assert.deepEqual(r.status, { code: 1, signal: null }, r.stderr);
  assert.ok(took >= 1000 && took < 3500, `gave up after ${took} ms`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines.at(-1)!, new RegExp(`^firehose-redis: gave up after 1 s without Redis at ${url.replace(/\./g, '\\.')} \\(REDIS_CONNECT_TIMEOUT_MS\\): .*Connection refused.*\\. Run replay again once Redis is up`));
  assert.ok(lines.slice(0, -1).every((l) => /retrying in \d+ ms \(attempt \d+\)$/.test(l)), r.stderr);
});

test('Redis that takes no writes: gives up too, instead of waiting forever', async () => {
  const { redis, server } = await redisServer();
  await redis.call('CLIENT', 'PAUSE', '30000', 'WRITE');
  cleanups.push(() => redis.call('CLIENT', 'UNPAUSE'));
  const t0 = Date.now();
  const r = await runCli(['replay'], {
    env: { REDIS_URL: server.url, REDIS_CONNECT_TIMEOUT_MS: '1000', REDIS_COMMAND_TIMEOUT_MS: '300' },
    timeoutMs: 15_000,
  });
  const took = Date.now() - t0;
  assert.deepEqual(r.status, { code: 1, signal: null }, r.stderr);
  // Taking the lease is a write too: the writer waits for Redis before it replays anything.
  assert.match(r.stderr, /firehose-redis: gave up after 1 s without Redis/);
  assert.ok(took < 6000, `gave up after ${took} ms`);
});
