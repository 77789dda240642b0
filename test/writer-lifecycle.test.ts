/**
 * The writer's boundary and lifecycle (issue 12): options validated like
 * the settings, listeners that throw, push() after close or a fatal error,
 * a constructor that fails, close() during a Redis backoff, a corrupt frame
 * with a huge seq, and the relay backoff after productive connections.
 * Each test failed on the writer before its split.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { syntheticStream } from '../bench/corpus.js';
import { FirehoseError } from '../src/errors.js';
import { createIngester, type Ingester } from '../src/ingester.js';
import { Service } from '../src/service.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { encodeFrame } from './support/dag.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer } from './support/redis.js';
import { ServiceProcess, stopAllServices } from './support/service-process.js';
import { CURSOR_KEY, assertStreamHolds, recordEvents, sleep, until } from './support/stream.js';

const base = readFrames('jetstream-corpus/frames.bin').map((f) => f.bytes);
const open = new Set<Ingester>();
const servers: RedisServer[] = [];

afterEach(async () => {
  await Promise.all([...open].map((ing) => ing.close(1000)));
  open.clear();
  await stopAllServices();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function redisServer(): Promise<RedisServer> {
  const s = await RedisServer.start();
  servers.push(s);
  return s;
}

function ingester(url: string, options: Parameters<typeof createIngester>[0] = {}): Ingester {
  const ing = createIngester({ redisUrl: url, dashboardStatus: false, ...options });
  open.add(ing);
  return ing;
}

const invalid = (option: string, range: RegExp) => (e: unknown) =>
  e instanceof FirehoseError && e.code === 'ERR_INVALID_ARG' && e.message.includes(option) && range.test(e.message) && !e.message.includes('\n');

test('every library option goes through the settings validators: ERR_INVALID_ARG naming the option and its range', () => {
  assert.throws(() => createIngester({ batchMaxEvents: 0 }), invalid('batchMaxEvents', /from 1 to 100000/));
  assert.throws(() => createIngester({ batchMaxEvents: 1.5 }), invalid('batchMaxEvents', /whole number/));
  assert.throws(() => createIngester({ queueMaxBytes: 10 }), invalid('queueMaxBytes', /from 1048576/));
  assert.throws(() => createIngester({ redisRetryMinMs: 500, redisRetryMaxMs: 100 }), invalid('redisRetryMaxMs', /REDIS_RETRY_MIN_MS/));
  assert.throws(() => createIngester({ trim: 'blind' as never }), invalid('trim', /groups, maxlen/));
  assert.throws(() => createIngester({ streamKey: '' }), invalid('streamKey', /empty/));
  assert.throws(() => createIngester({ redisUrl: 'http://x' }), invalid('redisUrl', /scheme/));
  assert.throws(() => createIngester({ leaseTtlMs: 10 }), invalid('leaseTtlMs', /from 500/));
  const config = { ...loadConfig({}), maxCommitOps: -1 };
  assert.throws(() => new Service(config, createLogger('silent', 'json')), invalid('maxCommitOps', /from 1/));
});

test('the native boundary still refuses a malformed options object, and a failed constructor leaves nothing running', () => {
  // In a child: a leaked thread-safe function would keep it alive forever.
  const script = `
    import { addon } from ${JSON.stringify(fileURLToPath(new URL('../src/native.js', import.meta.url)))};
    try { new addon.Ingester({ redis: {} }, () => {}); console.log('no error'); }
    catch (e) { console.log(e.code, e.message); }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `the process exits by itself (${r.signal ?? r.stderr})`);
  assert.match(r.stdout, /^ERR_INVALID_ARG writer option \w+ (is missing|must be)/);
});

test('push() after close() or after a fatal error throws ERR_CLOSED', async () => {
  const server = await redisServer();
  const ing = ingester(server.url);
  await ing.cursor();
  await ing.close(1000);
  assert.throws(() => ing.push(base[0]!), (e: unknown) => e instanceof FirehoseError && e.code === 'ERR_CLOSED' && /close/.test(e.message));

  await server.client().lpush('wrong:type', 'x');
  const bad = ingester(server.url, { streamKey: 'wrong:type' });
  const log = recordEvents(bad);
  bad.on('fatal', () => {});
  await until('fatal', 5000, () => log.some((e) => e.event === 'fatal'));
  await until('closed', 5000, () => log.some((e) => e.event === 'closed'));
  assert.throws(() => bad.push(base[0]!), (e: unknown) => e instanceof FirehoseError && e.code === 'ERR_CLOSED' && /fatal/.test(e.message));
});

test('a listener that throws does not stop the others: drain and closed still arrive, the error is rethrown', async () => {
  const server = await redisServer();
  // In a child process: node:test fails whatever test an uncaught exception happens in.
  const script = `
    import { createIngester } from ${JSON.stringify(fileURLToPath(new URL('../src/ingester.js', import.meta.url)))};
    import { syntheticStream } from ${JSON.stringify(fileURLToPath(new URL('../bench/corpus.js', import.meta.url)))};
    import { readFrames } from ${JSON.stringify(fileURLToPath(new URL('./support/fixtures.js', import.meta.url)))};
    const base = readFrames('jetstream-corpus/frames.bin').map((f) => f.bytes);
    let uncaught = 0, drains = 0, closedEvents = 0;
    process.on('uncaughtException', (e) => { if (e.message === 'listener bug') uncaught++; else throw e; });
    const ing = createIngester({ redisUrl: process.env.URL, dashboardStatus: false, queueMaxBytes: 1 << 20, batchMaxBytes: 64 * 1024 });
    ing.on('batch', () => { throw new Error('listener bug'); });
    ing.on('drain', () => drains++);
    ing.on('closed', () => closedEvents++);
    await ing.cursor();
    let paused = 0;
    for (const f of syntheticStream(base, 3000, 1)) {
      if (ing.push(f.bytes) === false) { paused++; await new Promise((r) => ing.once('drain', r)); }
    }
    const res = await ing.close(10000);
    await new Promise((r) => setTimeout(r, 50));
    console.log(JSON.stringify({ uncaught, drains, paused, closedEvents, flushed: res.flushed }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, URL: server.url } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(out.paused >= 1, 'the queue filled up at least once');
  assert.equal(out.drains, out.paused, "every pause was followed by its 'drain'");
  assert.equal(out.closedEvents, 1, "'closed' arrived");
  assert.equal(out.flushed, true);
  assert.ok(out.uncaught >= 1, 'the listener errors surfaced as uncaught exceptions');
  await assertStreamHolds(server.client(), Array.from({ length: 3000 }, (_, k) => k + 1));
});

test('close(timeout) is honoured during a Redis backoff', async () => {
  const server = await redisServer();
  const ing = ingester(server.url, { redisRetryMinMs: 4000, redisRetryMaxMs: 60_000, redisCommandTimeoutMs: 300 });
  await ing.cursor();
  // Frozen, not gone: the writer times out and backs off for seconds.
  await server.client().client('PAUSE', 5000, 'ALL');
  for (const f of syntheticStream(base, 20, 1)) ing.push(f.bytes);
  await sleep(800);
  const t0 = Date.now();
  const res = await ing.close(500);
  const took = Date.now() - t0;
  assert.ok(took < 1000, `close(500) took ${took} ms`);
  assert.equal(res.flushed, false);
  assert.ok(res.pendingFrames > 0);
});

test('a corrupt frame carrying a huge seq, pushed last, leaves the cursor at the last good seq', async () => {
  const server = await redisServer();
  const ing = ingester(server.url);
  await ing.cursor();
  const frames = syntheticStream(base, 50, 1);
  for (const f of frames) ing.push(f.bytes);
  const corrupt = Buffer.concat([encodeFrame({ op: 1, t: '#identity' }, { did: 'did:plc:x', seq: 9_000_000_000_000 }), Buffer.from([0xff])]);
  ing.push(corrupt);
  // And a replayed one: not above the previous seq.
  ing.push(frames[10]!.bytes);
  const res = await ing.close(5000);
  assert.equal(res.flushed, true);
  await assertStreamHolds(server.client(), Array.from({ length: 50 }, (_, k) => k + 1));
  assert.equal(await server.client().get(CURSOR_KEY), '50');
});

test('the relay backoff resets once a connection has delivered events', async () => {
  const server = await redisServer();
  const frames = syntheticStream(base, 2000, 1);
  // A busy, productive relay that drops every connection after 100 frames.
  const relay = await FakeRelay.start(frames, { dropEvery: 100, intervalMs: 1 });
  const svc = await ServiceProcess.start({
    env: { RELAY_URL: relay.url, REDIS_URL: server.url, RECONNECT_MIN_MS: '50', RECONNECT_MAX_MS: '10000' },
  });
  await until('six reconnects', 30_000, () => svc.find(/reconnecting in/).length >= 6);
  const delays = svc.find(/reconnecting in/).map((l) => l.delayMs as number);
  assert.ok(delays.slice(0, 6).every((d) => d <= 50), `delays ${delays.join(', ')} ms: the backoff did not reset`);
  await relay.close();
});
