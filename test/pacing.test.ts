/**
 * Consumer pacing against real servers: Debian's redis-server 7.0 and
 * valkey-server 8, the same suite on each. Workers are written the way the
 * application's are (XREADGROUP ... '>' then XACK) and read at a pace the
 * test sets; the writer is fed as fast as it takes frames, pausing on
 * false until 'drain' as the relay client does. Every test asserts exact
 * seqs: what each group received, once and in order, and what the stream
 * holds.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createIngester, type GroupState, type Ingester, type IngesterOptions } from '../src/ingester.js';
import { RedisServer, SERVERS } from './support/redis.js';
import { CURSOR_KEY, STREAM_KEY, pushPaced, readStream, sleep, until } from './support/stream.js';
import { GroupWorker, assertSeqs, groupsInfo, identityFrames, range, undelivered } from './support/workers.js';

const CAP = 150;
const BATCH = 50;
/**
 * How far XLEN may pass the cap: pacing starts after a batch's reply, when
 * the writer may hold two more batches, and approximate trimming (`~`)
 * keeps a partly needed stream node (at most 100 entries).
 */
const XLEN_BOUND = CAP + 2 * BATCH + 100;
const N = 1500;
/** Far below the writer: 20 entries, then 10 ms (about 1,500/s against tens of thousands). */
const SLOW = { count: 20, everyMs: 10 };
const FAST = { count: 50, everyMs: 0 };

type PacingInfo = { paced: boolean; group: string | null; backlog: number; groups: GroupState[] };

for (const server of SERVERS) {
  describe(`consumer pacing on ${server.name}`, () => {
    let redis: RedisServer;
    let client: Redis;
    const open = new Set<Ingester>();
    const workers = new Set<GroupWorker>();

    before(async () => {
      redis = await RedisServer.start({ binary: server.binary });
      client = redis.client();
    });
    after(async () => {
      await redis?.stop();
    });
    beforeEach(async () => {
      await client.flushall();
    });
    // A failed assertion must leave no writer thread or worker loop behind.
    afterEach(async () => {
      await Promise.all([...workers].map((w) => w.stop()));
      workers.clear();
      await Promise.all([...open].map((ing) => ing.close(2000)));
      open.clear();
    });

    function ingester(options: Partial<IngesterOptions> = {}): { ing: Ingester; pacing: PacingInfo[]; logs: Array<[string, string]> } {
      const ing = createIngester({ redisUrl: redis.url, dashboardStatus: false, maxStreamLen: CAP, batchMaxEvents: BATCH, ...options });
      open.add(ing);
      const pacing: PacingInfo[] = [];
      const logs: Array<[string, string]> = [];
      ing.on('pacing', (p) => pacing.push(p));
      ing.on('log', (level, message) => logs.push([level, message]));
      ing.on('fatal', () => {});
      return { ing, pacing, logs };
    }

    function worker(group: string, consumer: string, opts: { count: number; everyMs: number; ack?: boolean }): GroupWorker {
      const w = new GroupWorker(redis.client(), group, consumer, opts);
      workers.add(w);
      return w;
    }

    /** The largest XLEN seen while fn runs, sampled every 5 ms. */
    async function watchXlen<T>(fn: () => Promise<T>): Promise<{ result: T; maxXlen: number }> {
      const c = redis.client();
      let maxXlen = 0;
      let done = false;
      const sampler = (async () => {
        while (!done) {
          maxXlen = Math.max(maxXlen, await c.xlen(STREAM_KEY));
          await sleep(5);
        }
      })();
      try {
        const result = await fn();
        return { result, maxXlen };
      } finally {
        done = true;
        await sampler;
      }
    }

    /** Feeds frames as fast as the writer takes them, then waits until the cursor is on the last. */
    async function produce(ing: Ingester, frames: Array<{ seq: number; bytes: Buffer }>): Promise<void> {
      await pushPaced(ing, frames, { perTick: 500, tickMs: 1, drainTimeoutMs: 20_000 });
      const last = String(frames[frames.length - 1]!.seq);
      await until(`cursor ${last}`, 20_000, async () => (await client.get(CURSOR_KEY)) === last);
    }

    const untilRead = (w: GroupWorker, n: number, ms = 20_000) => until(`${w.group}/${w.consumer}: ${n} entries`, ms, () => w.seqs.length >= n);

    test('a group reading far below the writer gets every entry once, in order, while XLEN stays near the cap', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'slow', '0');
      const { ing, pacing } = ingester();
      const slow = worker('slow', 'w1', SLOW).start();
      const { maxXlen } = await watchXlen(async () => {
        await produce(ing, identityFrames(1, N));
        await untilRead(slow, N);
      });
      assertSeqs(slow.seqs, range(1, N), 'slow');
      assert.ok(pacing.some((p) => p.paced && p.group === 'slow'), 'the writer waited for the group');
      assert.ok(maxXlen <= XLEN_BOUND, `XLEN reached ${maxXlen}, above ${XLEN_BOUND}`);
      // Trimmed as it went: the stream holds the newest entries, at about the cap.
      const left = (await readStream(client)).map((e) => Number(e.fields[5]));
      assert.ok(left.length <= XLEN_BOUND, `${left.length} entries left`);
      assert.deepEqual(left, range(N - left.length + 1, N));
    });

    test('two groups, one fast and one slow: each gets every entry once, in order; the slow one paces', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'fast', '0');
      await GroupWorker.createGroup(client, 'slow', '0');
      const { ing, pacing } = ingester();
      const fast = worker('fast', 'w1', FAST).start();
      const slow = worker('slow', 'w1', SLOW).start();
      const { maxXlen } = await watchXlen(async () => {
        await produce(ing, identityFrames(1, N));
        await untilRead(slow, N);
        await untilRead(fast, N);
      });
      assertSeqs(fast.seqs, range(1, N), 'fast');
      assertSeqs(slow.seqs, range(1, N), 'slow');
      assert.ok(pacing.some((p) => p.paced && p.group === 'slow'), 'the writer waited for the slow group');
      // Each report names the group furthest behind (undelivered plus pending).
      for (const p of pacing.filter((x) => x.paced)) {
        const most = Math.max(...p.groups.map((g) => g.undelivered + g.pending));
        assert.equal(p.backlog, most, JSON.stringify(p));
        assert.equal(p.groups.find((g) => g.name === p.group)!.undelivered + p.groups.find((g) => g.name === p.group)!.pending, most);
      }
      assert.ok(maxXlen <= XLEN_BOUND, `XLEN reached ${maxXlen}, above ${XLEN_BOUND}`);
    });

    for (const from of ['$', '0'] as const) {
      test(`a group created mid-run at '${from}' gets every entry from there on; its backlog is known or estimated, never under`, { timeout: 30_000 }, async () => {
        const { ing, pacing } = ingester();
        await produce(ing, identityFrames(1, 500));
        // The writer is idle: the group starts at a known entry.
        const first = from === '$' ? 501 : Number((await readStream(client))[0]!.fields[5]);
        assert.ok(from === '$' || first > 1, 'entries before the group were trimmed as usual');
        await GroupWorker.createGroup(client, 'late', from);
        const late = worker('late', 'w1', SLOW);
        const producing = produce(ing, identityFrames(501, N));
        // The group reads nothing until the writer waits for it, and the writer is still.
        await until('paced by late', 10_000, () => pacing.some((p) => p.paced && p.group === 'late'));
        let cursor = '';
        await until('writer idle', 5000, async () => {
          const c = await client.get(CURSOR_KEY);
          const still = c === cursor;
          cursor = c ?? '';
          return still;
        }, 300);
        const seen = pacing.length;
        await until('a fresh group report', 3000, () => pacing.length > seen);
        const reported = pacing[pacing.length - 1]!.groups.find((g) => g.name === 'late')!;
        const truth = await undelivered(client, 'late');
        const lag = (await groupsInfo(client)).find((g) => g.name === 'late')!.lag;
        if (from === '$') assert.equal(lag, null, 'Redis cannot tell the lag of a group created at $ that has not caught up');
        else assert.equal(lag, truth, 'Redis knows the lag of a group created at 0');
        assert.ok(reported.undelivered >= truth, `reported ${reported.undelivered} undelivered, truly ${truth}: an estimate must not be under`);
        assert.ok(reported.undelivered <= truth + BATCH, `reported ${reported.undelivered} undelivered, truly ${truth}: over by more than a batch`);
        assert.ok(truth >= CAP, `paced at ${truth} undelivered, under the cap ${CAP}`);
        late.start();
        await producing;
        await untilRead(late, N - first + 1);
        assertSeqs(late.seqs, range(first, N), 'late');
      });
    }

    test('a group destroyed while the writer waits for it stops holding the writer back', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'gone', '0');
      await GroupWorker.createGroup(client, 'kept', '0');
      const { ing, pacing } = ingester();
      const kept = worker('kept', 'w1', FAST).start();
      const producing = produce(ing, identityFrames(1, N));
      await until('paced by gone', 10_000, () => pacing.some((p) => p.paced && p.group === 'gone'));
      await sleep(300);
      const cursor = Number(await client.get(CURSOR_KEY));
      assert.ok(cursor < N, 'the writer is waiting');
      await client.xgroup('DESTROY', STREAM_KEY, 'gone');
      const destroyedAt = pacing.length;
      await producing;
      await untilRead(kept, N);
      assertSeqs(kept.seqs, range(1, N), 'kept');
      // The next look at the groups no longer finds it ('kept' may pace the writer for a moment itself).
      const later = pacing.slice(destroyedAt + 1);
      assert.ok(later.length > 0 && later.every((p) => p.group !== 'gone' && !p.groups.some((g) => g.name === 'gone')), JSON.stringify(later.slice(0, 3)));
      assert.ok((await client.xlen(STREAM_KEY)) <= XLEN_BOUND, 'trimmed to the cap again');
    });

    test('a stale group (consumers idle past PACE_STALE_AFTER_MS, or none) stops counting, with an error log; the writer goes on', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'idle', '0');
      await GroupWorker.createGroup(client, 'nobody', '0');
      await GroupWorker.createGroup(client, 'live', '0');
      const { ing, pacing, logs } = ingester({ paceStaleAfterMs: 1000 });
      const live = worker('live', 'w1', FAST).start();
      // A consumer of 'idle' reads once, then never again.
      await worker('idle', 'w1', { count: 5, everyMs: 0 }).readOnce();
      await produce(ing, identityFrames(1, N));
      await untilRead(live, N);
      assertSeqs(live.seqs, range(1, N), 'live');
      assert.ok(pacing.some((p) => p.paced && (p.group === 'idle' || p.group === 'nobody')), 'the writer waited for them first');
      const lastReport = pacing[pacing.length - 1]!;
      // Once both went stale, only 'live' may hold the writer back.
      const stale = pacing.findIndex((p) => p.groups.filter((g) => g.stale).length === 2);
      assert.ok(stale >= 0 && pacing.slice(stale).every((p) => !p.paced || p.group === 'live'));
      for (const name of ['idle', 'nobody']) {
        const g = lastReport.groups.find((x) => x.name === name)!;
        assert.deepEqual({ stale: g.stale, counted: g.counted }, { stale: true, counted: false }, name);
        const lines = logs.filter(([level, m]) => level === 'error' && m.startsWith(`consumer group ${name} of ${STREAM_KEY}:`));
        assert.equal(lines.length, 1, `one error line for ${name}: ${JSON.stringify(logs)}`);
        assert.match(lines[0]![1], /idle for over 1 s .* may be trimmed \(PACE_STALE_AFTER_MS\)$/);
      }
      assert.ok(lastReport.groups.find((g) => g.name === 'live')!.counted);
      // Its consumer comes back: the group counts again.
      await worker('idle', 'w1', { count: 5, everyMs: 0 }).readOnce();
      await until('idle counts again', 5000, () => logs.some(([, m]) => m === `consumer group idle of ${STREAM_KEY} is reading again: it paces the writer again`));
    });

    test('entries pending for a crashed consumer are kept until another claims them (XAUTOCLAIM)', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'g', '0');
      const { ing } = ingester();
      await produce(ing, identityFrames(1, 100));
      // c1 takes 30 entries and crashes: they stay pending, never acknowledged.
      const crashed = worker('g', 'c1', { count: 30, everyMs: 0, ack: false });
      assert.equal(await crashed.readOnce(), 30);
      const c2 = worker('g', 'c2', FAST).start();
      await produce(ing, identityFrames(101, N));
      await untilRead(c2, N - 30);
      assertSeqs(c2.seqs, range(31, N), 'c2 before the claim');
      // Trimming stopped at the oldest pending entry: every one of them is still there.
      const stream = await readStream(client);
      assert.deepEqual(stream.map((e) => Number(e.fields[5])), range(1, N), 'nothing trimmed from the oldest pending entry on');
      const [, claimed, deleted] = (await client.xautoclaim(STREAM_KEY, 'g', 'c2', 0, '0-0', 'COUNT', 100)) as [string, Array<[string, string[]]>, string[]];
      assert.deepEqual(deleted, [], 'no pending entry was trimmed');
      assert.deepEqual(claimed.map(([id]) => id), crashed.ids);
      assertSeqs(claimed.map(([, f]) => Number(f[5])), range(1, 30), 'claimed');
      for (const [id] of claimed) await client.xack(STREAM_KEY, 'g', id);
      // Claimed and acknowledged: the next batches trim back to the cap.
      await produce(ing, identityFrames(N + 1, N + 300));
      await untilRead(c2, N - 30 + 300);
      assertSeqs(c2.seqs, range(31, N + 300), 'c2');
      assert.ok((await client.xlen(STREAM_KEY)) <= XLEN_BOUND, 'trimmed to the cap again');
    });

    test('no group at all: trimmed at the cap, never paced', { timeout: 30_000 }, async () => {
      const { ing, pacing } = ingester();
      const { maxXlen } = await watchXlen(() => produce(ing, identityFrames(1, N)));
      assert.ok(maxXlen <= CAP + BATCH + 100, `XLEN reached ${maxXlen}`);
      const left = (await readStream(client)).map((e) => Number(e.fields[5]));
      assert.deepEqual(left, range(N - left.length + 1, N));
      assert.ok(left.length >= CAP, 'no more than the cap was trimmed');
      assert.equal(pacing.filter((p) => p.paced).length, 0);
    });

    test('REDIS_TRIM=maxlen: the old blind MAXLEN ~, which trims entries a slow group has not read', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'slow', '0');
      const { ing, pacing } = ingester({ trim: 'maxlen' });
      const slow = worker('slow', 'w1', SLOW).start();
      const { maxXlen } = await watchXlen(() => produce(ing, identityFrames(1, N)));
      assert.ok(maxXlen <= CAP + BATCH + 100, `XLEN reached ${maxXlen}`);
      await until('the slow group at the end', 10_000, () => slow.seqs[slow.seqs.length - 1] === N);
      assert.equal(pacing.length, 0, 'no pacing, no group reports');
      assert.ok(slow.seqs.length < N / 2, `the slow group received ${slow.seqs.length} of ${N}: the rest were trimmed unread`);
      assert.ok(slow.seqs.every((s, i) => i === 0 || s > slow.seqs[i - 1]!), 'in order, with gaps');
    });

    test('PACE_GROUPS: only the named groups count; a name that is no group gets one error line listing the groups', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'listed', '0');
      await GroupWorker.createGroup(client, 'other', '0');
      const { ing, pacing, logs } = ingester({ paceGroups: ['listed', 'missing'] });
      const listed = worker('listed', 'w1', FAST).start();
      await produce(ing, identityFrames(1, N));
      await untilRead(listed, N);
      assertSeqs(listed.seqs, range(1, N), 'listed');
      const errors = logs.filter(([level]) => level === 'error').map(([, m]) => m);
      assert.deepEqual(errors, [
        `PACE_GROUPS names "missing", but ${STREAM_KEY} has no such consumer group (it has: listed, other): fix the name, or create the group`,
      ]);
      assert.ok(!pacing.some((p) => p.paced && p.group === 'other'), "'other' never read, and did not hold the writer back");
      const other = pacing[pacing.length - 1]!.groups.find((g) => g.name === 'other')!;
      assert.equal(other.counted, false);
      assert.ok((await client.xlen(STREAM_KEY)) <= XLEN_BOUND, "trimmed past what 'other' has not read");
    });

    test('a stream key holding another type, and an ACL without XINFO or XPENDING: one line saying what to change, nothing written', { timeout: 30_000 }, async () => {
      await client.set(STREAM_KEY, 'not a stream');
      const wrong = ingester();
      await assert.rejects(wrong.ing.cursor(), { message: `REDIS_STREAM_KEY "${STREAM_KEY}" holds a string, not a stream: choose another key or delete this one` });
      await client.flushall();
      await GroupWorker.createGroup(client, 'g', '0');
      for (const denied of ['xinfo', 'xpending']) {
        await client.call('ACL', 'SETUSER', 'writer', 'reset', 'on', '>pw', '~*', '&*', '+@all', `-${denied}`);
        try {
          const url = `redis://writer:pw@127.0.0.1:${redis.port}`;
          const { ing } = ingester({ redisUrl: url });
          const fatal = new Promise<Error>((resolve) => ing.once('fatal', resolve));
          ing.push(identityFrames(1, 1)[0]!.bytes);
          assert.equal(
            (await fatal).message,
            `the Redis user in REDIS_URL may not run ${denied.toUpperCase()} on ${STREAM_KEY}, which pacing by consumer groups needs: grant them (ACL SETUSER <user> +xinfo +xpending), or set REDIS_TRIM=maxlen`,
          );
          assert.equal(await client.xlen(STREAM_KEY), 0, 'nothing written');
          // The old behaviour needs neither.
          const blind = ingester({ redisUrl: url, trim: 'maxlen' });
          blind.ing.push(identityFrames(1, 1)[0]!.bytes);
          await until('written without XINFO', 5000, async () => (await client.get(CURSOR_KEY)) === '1');
          await blind.ing.close(2000);
          await client.del(STREAM_KEY, CURSOR_KEY, `${STREAM_KEY}:lease`, `${STREAM_KEY}:fence`);
          await GroupWorker.createGroup(client, 'g', '0');
        } finally {
          await client.call('ACL', 'DELUSER', 'writer');
        }
      }
    });

    test('an ACL without XTRIM: the batch that trims lands and is reported, then the writer stops saying what to grant', { timeout: 30_000 }, async () => {
      await client.call('ACL', 'SETUSER', 'writer', 'reset', 'on', '>pw', '~*', '&*', '+@all', '-xtrim');
      try {
        const { ing } = ingester({ redisUrl: `redis://writer:pw@127.0.0.1:${redis.port}` });
        let reported: string | null = null;
        ing.on('batch', (b) => (reported = b.cursor));
        const fatal = new Promise<Error>((resolve) => ing.once('fatal', resolve));
        for (const f of identityFrames(1, CAP + 2 * BATCH)) ing.push(f.bytes);
        const error = await fatal;
        assert.match(error.message, new RegExp(`^the Redis user in REDIS_URL may not trim ${STREAM_KEY} \\(NOPERM the Redis user may not run XTRIM on ${STREAM_KEY} .*\\): grant what the README lists under Redis permissions, with ACL SETUSER$`));
        const cursor = await client.get(CURSOR_KEY);
        assert.ok(Number(cursor) > CAP, `the batch past the cap was written (cursor ${cursor})`);
        assert.equal(reported, cursor, 'and reported before the writer stopped');
      } finally {
        await client.call('ACL', 'DELUSER', 'writer');
      }
    });
  });
}
