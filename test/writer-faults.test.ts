/**
 * The Redis writer under faults: Redis killed, paused, refusing the writer
 * for good, absent at start or gone at close; the writer's own process
 * killed or exiting, its worker thread terminated; malformed frames; the
 * collection filter. Whatever happens, the stream ends up holding every
 * expected seq exactly once and in order, with the cursor on the last one.
 * Every test starts its own redis-server(s) and stops them in `finally`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { syntheticStream } from '../bench/corpus.js';
import { FirehoseError } from '../src/errors.js';
import { createIngester, type Ingester, type IngesterOptions } from '../src/ingester.js';
import { encodeFrame } from './support/dag.js';
import { readFrames, readJsonl } from './support/fixtures.js';
import { RedisServer } from './support/redis.js';
import { CURSOR_KEY, STREAM_KEY, assertStreamHolds, pushPaced, readStream, recordEvents, sleep, until, waitFor } from './support/stream.js';

// Fixture JSON and batch reports are loosely typed here.
type Json = any;

const MiB = 1 << 20;
const base = readFrames('jetstream-corpus/frames.bin').map((f) => f.bytes);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const open = new Set<Ingester>();

function ingester(url: string, options: Partial<IngesterOptions> = {}): Ingester {
  const ing = createIngester({ redisUrl: url, dashboardStatus: false, ...options });
  open.add(ing);
  return ing;
}

// A failed assertion must not leave a writer thread running: the file would never exit.
afterEach(async () => {
  await Promise.all([...open].map((ing) => ing.close(2000)));
  open.clear();
});

/** Starts a server, hands it to fn, always stops it. */
async function withServer<T>(opts: Parameters<typeof RedisServer.start>[0], fn: (s: RedisServer) => Promise<T>): Promise<T> {
  const server = await RedisServer.start(opts);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** A loopback URL where nothing listens (a server started, then killed). */
async function deadRedis(): Promise<RedisServer> {
  const s = await RedisServer.start();
  await s.kill();
  return s;
}

const events = (log: ReturnType<typeof recordEvents>, name: string) => log.filter((e) => e.event === name);

// ---------------------------------------------------------------- Redis crashes

test('Redis SIGKILLed twice mid-run and restarted (AOF, fsync always): every seq once, in order', { timeout: 30_000 }, async () => {
  await withServer({ appendonly: true }, async (server) => {
    const client = server.client();
    const ing = ingester(server.url);
    const log = recordEvents(ing);
    assert.equal(await ing.cursor(), null);
    const stream = syntheticStream(base, 3000, 1);
    let pushed = 0;
    // Two crashes, the second once the writer is back from the first.
    const faults = (async () => {
      for (const at of [600, 1800]) {
        await until(`push ${at}`, 15_000, () => pushed >= at, 5);
        const ups = events(log, 'redis-up').length;
        await server.kill('SIGKILL');
        await sleep(400);
        await server.restart();
        await until('redis-up', 15_000, () => events(log, 'redis-up').length > ups, 5);
      }
    })();
    const stats = await pushPaced(ing, stream, { perTick: 5, tickMs: 5, onPush: (n) => (pushed = n) });
    await faults;
    assert.equal(stats.pushed, 3000);
    assert.deepEqual(await ing.close(20_000), { flushed: true, pendingFrames: 0 });

    const downs = events(log, 'redis-down');
    const ups = events(log, 'redis-up');
    assert.ok(downs.length >= 2, `${downs.length} redis-down events`);
    assert.ok(ups.length >= 2, `${ups.length} redis-up events (one per outage)`);
    assert.ok(downs[0]!.at <= ups[0]!.at, 'redis-down comes before redis-up');
    const firstDown = log.indexOf(downs[0]!);
    assert.ok(log.slice(0, firstDown).some((e) => e.event === 'batch'), 'batches were written before the first crash');
    assert.ok(log.slice(log.indexOf(ups[ups.length - 1]!)).some((e) => e.event === 'batch'), 'and after the last recovery');
    for (const d of downs) {
      const [error, attempt, retryInMs] = d.args as [string, number, number];
      assert.equal(typeof error, 'string');
      assert.ok(attempt >= 1 && retryInMs > 0);
    }
    const retried = events(log, 'batch').filter((e) => (e.args[0] as Json).retries > 0);
    assert.ok(retried.length >= 1, 'some batch reports its retries');
    await assertStreamHolds(client, range(1, 3000));
  });
});

// ---------------------------------------------------------------- back-pressure

test('CLIENT PAUSE WRITE: push() refuses at the 1 MiB bound, drain after the pause, nothing lost', { timeout: 30_000 }, async () => {
  await withServer({}, async (server) => {
    const client = server.client();
    const bound = MiB;
    // Batches smaller than the queue: the two the writer holds (one stuck in
    // flight, the next one built) cannot empty it, so the only 'drain'
    // possible comes after the pause.
    const batchBytes = 256 * 1024;
    const ing = ingester(server.url, { queueMaxBytes: bound, batchMaxBytes: batchBytes });
    const log = recordEvents(ing);
    await ing.cursor();
    const stream = syntheticStream(base, 3000, 1);
    const biggest = Math.max(...stream.map((f) => f.bytes.length));
    const rssBefore = process.memoryUsage().rss;

    await client.client('PAUSE', 3000, 'WRITE');
    const pausedAt = Date.now();
    let i = 0;
    let refused = false;
    let maxQueue = 0;
    let accepted = 0;
    while (i < stream.length && !refused) {
      const bytes = stream[i++]!.bytes;
      refused = ing.push(bytes) === false;
      accepted += bytes.length;
      maxQueue = Math.max(maxQueue, ing.stats().queueBytes);
    }
    assert.ok(refused, 'push() returned false while Redis was paused');
    assert.ok(accepted <= bound + 2 * batchBytes + 2 * biggest, `${accepted} bytes taken in: more than the queue and the writer's two batches`);
    assert.ok(Date.now() - pausedAt < 2000, 'it refused because of the pause');
    const atRefusal = ing.stats().queueBytes;
    assert.ok(atRefusal > bound, `queueBytes ${atRefusal} is over the bound when push() refuses`);
    assert.ok(maxQueue <= bound + biggest, `queueBytes ${maxQueue} exceeds the bound plus one frame`);
    assert.equal(events(log, 'drain').length, 0);

    await waitFor(ing, 'drain', 10_000);
    const drainedAfter = Date.now() - pausedAt;
    assert.ok(drainedAfter >= 2500, `'drain' after ${drainedAfter} ms, before the 3 s pause ended`);
    assert.ok(ing.stats().queueBytes <= bound / 2 + biggest, 'drained to the low-water mark');

    const rest = await pushPaced(ing, stream.slice(i), { perTick: 50, tickMs: 2 });
    assert.ok(rest.maxQueueBytes <= bound + biggest, `queueBytes ${rest.maxQueueBytes} exceeds the bound plus one frame`);
    assert.deepEqual(await ing.close(20_000), { flushed: true, pendingFrames: 0 });
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 64 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
    await assertStreamHolds(client, range(1, 3000));
  });
});

// ---------------------------------------------------------------- fatal errors

/**
 * 'fatal' once, with a message matching `must`; no retry loop over the
 * next second; close() resolves. Returns the error.
 */
async function expectFatal(ing: Ingester, log: ReturnType<typeof recordEvents>, must: RegExp[]): Promise<FirehoseError> {
  // The log, not waitFor(): the event may have come already.
  const [error] = (await until("'fatal'", 10_000, () => events(log, 'fatal')[0]))!.args as [FirehoseError];
  assert.ok(error instanceof FirehoseError, 'a FirehoseError');
  assert.equal(error.code, 'ERR_REDIS_FATAL');
  for (const re of must) assert.match(error.message, re);
  assert.doesNotMatch(error.message, /\n/, 'one line');
  await sleep(1000);
  assert.equal(events(log, 'fatal').length, 1, "'fatal' exactly once");
  assert.equal(events(log, 'redis-down').length, 0, 'no retry loop after a fatal error');
  const closed = await Promise.race([ing.close(2000), sleep(5000).then(() => 'hang' as const)]);
  assert.notEqual(closed, 'hang', 'close() resolves after a fatal error');
  assert.equal((closed as { flushed: boolean }).flushed, false);
  return error;
}

test('fatal: the stream key holds a list, the cursor key a hash', { timeout: 20_000 }, async () => {
  await withServer({}, async (server) => {
    const client = server.client();
    await client.lpush(STREAM_KEY, 'x');
    const ing = ingester(server.url);
    const log = recordEvents(ing);
    await assert.rejects(ing.cursor(), /REDIS_STREAM_KEY/);
    await expectFatal(ing, log, [/REDIS_STREAM_KEY/, /firehose:events/, /list/, /another key|delete/]);
    assert.deepEqual(await client.lrange(STREAM_KEY, 0, -1), ['x'], 'the list is left alone');

    await client.flushall();
    await client.hset(CURSOR_KEY, 'a', 'b');
    const ing2 = ingester(server.url);
    const log2 = recordEvents(ing2);
    await expectFatal(ing2, log2, [/REDIS_CURSOR_KEY/, /firehose:python_cursor/, /hash/, /another key|delete/]);
    assert.equal(await client.exists(STREAM_KEY), 0, 'nothing written');
  });
});

test('fatal: a wrong password, or none, in REDIS_URL; the password never appears', { timeout: 20_000 }, async () => {
  const password = 'correct-horse-7f3a';
  await withServer({ requirepass: password }, async (server) => {
    const wrong = 'not-the-Secret-91c2';
    const url = `redis://:${wrong}@127.0.0.1:${server.port}`;
    const ing = ingester(url);
    const log = recordEvents(ing);
    const error = await expectFatal(ing, log, [/REDIS_URL/, /credentials|password/i, new RegExp(`127\\.0\\.0\\.1:${server.port}`)]);
    assert.ok(!error.message.includes(wrong), 'the password is not in the message');
    assert.ok(!error.message.includes(password));

    const userUrl = `redis://default:${wrong}@127.0.0.1:${server.port}/0`;
    const ing2 = ingester(userUrl);
    const log2 = recordEvents(ing2);
    const error2 = await expectFatal(ing2, log2, [/REDIS_URL/]);
    assert.ok(!error2.message.includes(wrong));

    const ing3 = ingester(`redis://127.0.0.1:${server.port}`);
    const log3 = recordEvents(ing3);
    await expectFatal(ing3, log3, [/requires a password/, /REDIS_URL/]);
  });
});

test('fatal: an ACL user without XADD gets NOPERM on its first batch, nothing half-written', { timeout: 20_000 }, async () => {
  await withServer({}, async (server) => {
    const client = server.client();
    await client.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '&*', '+@all', '-xadd');
    const ing = ingester(`redis://limited:pw@127.0.0.1:${server.port}`);
    const log = recordEvents(ing);
    assert.equal(await ing.cursor(), null, 'reading is allowed: ready');
    for (const f of syntheticStream(base, 5, 1)) ing.push(f.bytes);
    const error = await expectFatal(ing, log, [/NOPERM/, /xadd/i, /REDIS_URL/]);
    assert.ok(!error.message.includes(':pw@'));
    assert.equal(await client.exists(STREAM_KEY, CURSOR_KEY), 0, 'the transaction was refused as a whole');
    const closed = events(log, 'closed')[0]!.args[0] as { pendingFrames: number };
    assert.equal(closed.pendingFrames, 5, 'the refused frames are reported pending');
  });
});

// ---------------------------------------------------------------- Redis absent

test('Redis not running at start: redis-down with attempts and delays, then ready once it starts', { timeout: 20_000 }, async () => {
  const server = await deadRedis();
  try {
    const ing = ingester(server.url);
    const log = recordEvents(ing);
    const ready = ing.cursor();
    await until('three redis-down events', 10_000, () => events(log, 'redis-down').length >= 3);
    assert.equal(events(log, 'ready').length, 0);
    events(log, 'redis-down').slice(0, 3).forEach((e, i) => {
      const [error, attempt, retryInMs] = e.args as [string, number, number];
      assert.equal(attempt, i + 1, 'attempts count up');
      // A refused connect means Redis is (re)starting: it is asked again
      // every 100 ms at most, rather than after the whole backoff.
      const cap = Math.min(100 * 2 ** i, 5000, 100);
      assert.ok(retryInMs >= cap / 2 && retryInMs <= cap, `attempt ${attempt}: retry in ${retryInMs} ms, cap ${cap}`);
      assert.match(error, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
      assert.match(error, /refused/);
    });

    await server.restart();
    assert.equal(await ready, null);
    await until("'redis-up'", 5000, () => events(log, 'redis-up').length === 1);
    for (const f of syntheticStream(base, 100, 1)) assert.notEqual(ing.push(f.bytes), false);
    assert.deepEqual(await ing.close(10_000), { flushed: true, pendingFrames: 0 });
    await assertStreamHolds(server.client(), range(1, 100));
  } finally {
    await server.stop();
  }
});

test('close() while Redis is down: resolves within its timeout, flushed=false, same result twice', { timeout: 15_000 }, async () => {
  // Redis gone after the writer was ready.
  await withServer({}, async (server) => {
    const ing = ingester(server.url);
    const log = recordEvents(ing);
    await ing.cursor();
    for (const f of syntheticStream(base, 10, 1)) ing.push(f.bytes);
    await until('the first batch', 5000, () => events(log, 'batch').length > 0);
    await server.kill();
    for (const f of syntheticStream(base, 200, 11)) ing.push(f.bytes);
    const t0 = Date.now();
    const result = await ing.close(1000);
    const took = Date.now() - t0;
    assert.ok(took < 2500, `close(1000) took ${took} ms`);
    assert.equal(result.flushed, false);
    assert.ok(result.pendingFrames > 0, `pendingFrames ${result.pendingFrames}`);
    // The 200, and the first frames' second batch if it was in flight at the kill.
    assert.ok(result.pendingFrames <= 210, `pendingFrames ${result.pendingFrames}`);
    assert.deepEqual(await ing.close(1000), result, 'close() twice: the same result');
    await sleep(50);
    assert.deepEqual(await ing.close(), result);
    assert.equal(events(log, 'closed').length, 1);
    assert.deepEqual(events(log, 'closed')[0]!.args[0], result);
    assert.throws(() => ing.push(base[0]!), { code: 'ERR_CLOSED' }, 'push() after close() throws');
  });

  // Redis never reachable at all.
  const dead = await deadRedis();
  try {
    const ing = ingester(dead.url);
    for (const f of syntheticStream(base, 7, 1)) ing.push(f.bytes);
    const t0 = Date.now();
    const result = await ing.close(500);
    assert.ok(Date.now() - t0 < 2000, `close(500) took ${Date.now() - t0} ms`);
    assert.deepEqual(result, { flushed: false, pendingFrames: 7 });
  } finally {
    await dead.stop();
  }
});

// ---------------------------------------------------------------- the writer's process

const CHILD = fileURLToPath(new URL('./support/replay-from-cursor.js', import.meta.url));

interface Child {
  proc: ChildProcess;
  lines: Json[];
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function runChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Json[] = [];
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(out.slice(0, nl)));
      out = out.slice(nl + 1);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { proc, lines, stderr: () => err, exit };
}

test('the writer process SIGKILLed mid-run, then restarted from the saved cursor: every seq once', { timeout: 30_000 }, async () => {
  await withServer({}, async (server) => {
    const client = server.client();
    const first = runChild({ REDIS_URL: server.url, FRAMES: '3000', PER_TICK: '20', TICK_MS: '5' });
    try {
      await until('a batch past seq 1000', 15_000, () => first.lines.some((l) => Number(l.batch) >= 1000) || first.proc.exitCode !== null);
      first.proc.kill('SIGKILL');
      const { signal } = await first.exit;
      assert.equal(signal, 'SIGKILL', `the child ended on its own: ${first.stderr()}`);
    } finally {
      first.proc.kill('SIGKILL');
    }
    assert.deepEqual(first.lines[0], { cursor: null, todo: 3000 });
    assert.ok(!first.lines.some((l) => l.pushed !== undefined), 'killed before it pushed everything');

    // MULTI ... EXEC: the stream holds exactly the entries up to the cursor.
    const saved = Number(await client.get(CURSOR_KEY));
    assert.ok(saved >= 1000 && saved < 3000, `cursor ${saved} after the kill`);
    await assertStreamHolds(client, range(1, saved));

    const second = runChild({ REDIS_URL: server.url, FRAMES: '3000', PER_TICK: '50', TICK_MS: '2' });
    const { code } = await second.exit;
    assert.equal(code, 0, second.stderr());
    assert.deepEqual(second.lines[0], { cursor: String(saved), todo: 3000 - saved });
    assert.deepEqual(second.lines[second.lines.length - 1], { closed: { flushed: true, pendingFrames: 0 } });
    await assertStreamHolds(client, range(1, 3000));
  });
});

test('a child that pushes frames and calls process.exit(0) exits within 3 s, Redis up or down', { timeout: 30_000 }, async () => {
  await withServer({}, async (server) => {
    const dead = await deadRedis();
    try {
      for (const [what, url] of [
        ['up', server.url],
        ['down', dead.url],
      ] as const) {
        const child = runChild({ REDIS_URL: url, FRAMES: '2000', PER_TICK: '500', TICK_MS: '1', MODE: 'exit', ...(what === 'down' ? { NO_CURSOR: '1' } : {}) });
        const timer = setTimeout(() => child.proc.kill('SIGKILL'), 20_000);
        const { code, signal, at } = await child.exit;
        clearTimeout(timer);
        assert.equal(signal, null, `Redis ${what}: killed after hanging; ${child.stderr()}`);
        assert.equal(code, 0, `Redis ${what}: ${child.stderr()}`);
        const exiting = child.lines.find((l) => l.exiting);
        assert.ok(exiting, `Redis ${what}: the child reached process.exit(0)`);
        const took = at - exiting.at;
        assert.ok(took < 3000, `Redis ${what}: exit took ${took} ms`);
      }
    } finally {
      await dead.stop();
    }
  });
});

// ---------------------------------------------------------------- worker threads

test('an Ingester in a worker_threads Worker terminated mid-run: no hang, no crash, nothing half-written', { timeout: 30_000 }, async () => {
  await withServer({}, async (server) => {
    const dead = await deadRedis();
    const client = server.client();
    try {
      // Several rounds: a crash needs a report in flight at the moment of termination.
      for (const [what, url] of [
        ['up', server.url],
        ['up', server.url],
        ['up', server.url],
        ['up', server.url],
        ['down', dead.url],
        ['down', dead.url],
      ] as const) {
        await client.flushall();
        const worker = new Worker(new URL('./support/ingester-worker.js', import.meta.url), { workerData: { redisUrl: url } });
        const messages: Json[] = [];
        const errors: Error[] = [];
        worker.on('message', (m) => messages.push(m));
        worker.on('error', (e) => errors.push(e));
        await until(`worker (Redis ${what}) at work`, 10_000, () =>
          what === 'up' ? messages.filter((m) => m.batch).length >= 5 : messages.filter((m) => m.down).length >= 2,
        );
        const t0 = Date.now();
        const outcome = await Promise.race([worker.terminate(), sleep(5000).then(() => 'hang' as const)]);
        assert.notEqual(outcome, 'hang', `terminate() hung with Redis ${what}`);
        assert.ok(Date.now() - t0 < 5000);
        assert.deepEqual(errors, []);
        assert.ok(!messages.some((m) => m.fatal), JSON.stringify(messages.find((m) => m.fatal)));
        if (what === 'up') {
          // Whatever the worker had written is whole: exactly the entries up to its cursor.
          const saved = Number(await client.get(CURSOR_KEY));
          assert.ok(saved > 0);
          await assertStreamHolds(client, range(1, saved));
        }
      }

      // The process is still healthy: a new writer on the main thread works.
      await client.flushall();
      const ing = ingester(server.url);
      for (const f of syntheticStream(base, 50, 1)) ing.push(f.bytes);
      assert.deepEqual(await ing.close(10_000), { flushed: true, pendingFrames: 0 });
      await assertStreamHolds(client, range(1, 50));
    } finally {
      await dead.stop();
    }
  });
});

// ---------------------------------------------------------------- frames

test('malformed frames among good ones: counted as invalid, the others written, the cursor moves past them', { timeout: 20_000 }, async () => {
  await withServer({}, async (server) => {
    const ing = ingester(server.url);
    const log = recordEvents(ing);
    await ing.cursor();
    const good = syntheticStream(base, 30, 1);
    const bad = [
      Buffer.from('hello world'), // not CBOR at all
      good[12]!.bytes.subarray(0, 100), // truncated
      encodeFrame({ op: 1, t: '#commit' }, { seq: 21, repo: 5 }), // a seq, but a bad body
    ];
    const skipped = new Set([13, 21]); // the seqs whose good frame is replaced by a bad one
    const frames = [
      ...good.slice(0, 10).map((f) => f.bytes),
      bad[0]!,
      ...good.slice(10, 12).map((f) => f.bytes),
      bad[1]!,
      ...good.slice(13, 20).map((f) => f.bytes),
      bad[2]!,
      ...good.slice(21).map((f) => f.bytes),
    ];
    for (const f of frames) ing.push(f);
    assert.deepEqual(await ing.close(10_000), { flushed: true, pendingFrames: 0 });
    const batches = events(log, 'batch').map((e) => e.args[0] as Json);
    assert.equal(batches.reduce((n, b) => n + b.frames, 0), frames.length, 'every frame covered by a batch report');
    assert.equal(batches.reduce((n, b) => n + b.counts.invalid, 0), 3);
    const invalid = batches.flatMap((b) => b.invalid);
    assert.equal(invalid.length, 3);
    assert.deepEqual(invalid.map((x) => x.bytes), bad.map((b) => b.length));
    for (const x of invalid) assert.ok(typeof x.error === 'string' && x.error.length > 0);
    assert.match(invalid[0].error, /header/);
    assert.match(invalid[2].error, /repo/);
    await assertStreamHolds(server.client(), range(1, 30).filter((s) => !skipped.has(s)));
  });
});

test('COLLECTIONS at the writer: only like ops, empty commits dropped, identity and account kept, cursor on every frame', { timeout: 20_000 }, async () => {
  await withServer({}, async (server) => {
    const frames = readFrames('pds-capture/frames.bin').map((f) => f.bytes);
    const expected = readJsonl<Json>('pds-capture/expected.jsonl');
    const LIKE = 'app.bsky.feed.like';
    const want: Array<{ seq: number; type: string; ops?: Json[] }> = [];
    let left = 0;
    let filteredOps = 0;
    for (const e of expected) {
      const t = e.header.t;
      if (t === '#commit') {
        const ops = e.ops.filter((op: Json) => op.collection === LIKE);
        filteredOps += e.ops.length - ops.length;
        if (ops.length > 0) want.push({ seq: e.body.seq, type: 'commit', ops: ops.map((op: Json) => ({ action: op.action, path: op.path })) });
        else left++;
      } else if (t === '#identity' || t === '#account') {
        want.push({ seq: e.body.seq, type: t.slice(1) });
      }
    }
    assert.ok(want.some((w) => w.type === 'commit') && left > 0);

    const ing = ingester(server.url, { collections: [LIKE] });
    const log = recordEvents(ing);
    await ing.cursor();
    for (const f of frames) ing.push(f);
    assert.deepEqual(await ing.close(10_000), { flushed: true, pendingFrames: 0 });

    const client = server.client();
    const entries = await assertStreamHolds(client, want.map((w) => w.seq), { cursor: '305' });
    entries.forEach((e, i) => {
      const w = want[i]!;
      assert.equal(e.fields[1], w.type, `seq ${w.seq}`);
      const data = JSON.parse(e.fields[3]!);
      if (w.type === 'commit') {
        assert.deepEqual(
          data.ops.map((op: Json) => ({ action: op.action, path: op.path })),
          w.ops,
          `seq ${w.seq}: only the like ops`,
        );
        for (const op of data.ops) if (op.action !== 'delete') assert.equal(op.record.$type, LIKE);
      }
    });
    assert.equal(entries.filter((e) => e.fields[1] === 'identity').length, 12);
    assert.equal(entries.filter((e) => e.fields[1] === 'account').length, 14);
    const batches = events(log, 'batch').map((e) => e.args[0] as Json);
    assert.equal(batches.reduce((n, b) => n + b.counts.filtered, 0), left, 'commits left empty are counted as filtered');
    assert.equal(batches.reduce((n, b) => n + b.opsFiltered, 0), filteredOps);
    assert.equal((await readStream(client)).length, want.length);
  });
});
