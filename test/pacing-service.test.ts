/**
 * Consumer pacing seen from outside, on redis-server 7.0 and valkey-server
 * 8: the CLI as a child process, a test relay, workers of a consumer
 * group. The relay drops a paced service as too slow and it still gets
 * every event once, without reconnecting in a loop; /healthz stays 200
 * while paced and names the group, 503 only past the relay's replay
 * window; /metrics has the per-group gauges; the logs mark paced periods;
 * refusals say what to change.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { syntheticStream } from '../bench/corpus.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer, SERVERS } from './support/redis.js';
import { ServiceProcess, runCli, stopAllServices, until, type StartOptions } from './support/service-process.js';
import { CURSOR_KEY, STREAM_KEY, sleep } from './support/stream.js';
import { GroupWorker, assertSeqs, identityFrames, range } from './support/workers.js';

const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

/** A Prometheus sample's value, or undefined. */
function metric(body: string, name: string, labels = ''): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

for (const server of SERVERS) {
  describe(`the service paced by a consumer group on ${server.name}`, () => {
    let redis: RedisServer;
    let client: Redis;
    const cleanups: Array<() => Promise<unknown>> = [];
    let svc: ServiceProcess | undefined;

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
    afterEach(async () => {
      await stopAllServices();
      while (cleanups.length) await cleanups.pop()!().catch(() => {});
    });

    async function relay(...args: Parameters<typeof FakeRelay.start>): Promise<FakeRelay> {
      const r = await FakeRelay.start(...args);
      cleanups.push(() => r.close());
      return r;
    }

    function worker(group: string, opts: { count: number; everyMs: number }): GroupWorker {
      const w = new GroupWorker(redis.client(), group, 'w1', opts);
      cleanups.push(() => w.stop());
      return w;
    }

    async function start(relayUrl: string, env: StartOptions['env']): Promise<ServiceProcess> {
      svc = await ServiceProcess.start({ env: { RELAY_URL: relayUrl, REDIS_URL: redis.url, ...env } });
      return svc;
    }

    const why = () => svc?.tail() ?? '';

    test('dropped by the relay as too slow while paced: every event still arrives once, and each reconnect resumes further on', { timeout: 60_000 }, async () => {
      // About 12 MB of real frames: more than the socket buffers and the
      // relay's bound hold while the service waits.
      const frames = syntheticStream(JETSTREAM, 4000, 1);
      const r = await relay(frames, { tooSlowBytes: 1 << 20, burst: 100, intervalMs: 5 });
      await GroupWorker.createGroup(client, 'workers', '0');
      const w = worker('workers', { count: 50, everyMs: 0 });
      // The captured frames are months old: a replay window of a year keeps
      // /healthz on the pacing alone.
      // Pings every 5 s: a pong queued behind megabytes of frames is late, not lost.
      const s = await start(r.url, { REDIS_MAX_STREAM_LEN: '500', STALL_TIMEOUT_MS: '60000', PING_INTERVAL_MS: '5000', RELAY_REPLAY_WINDOW_MS: String(365 * 86_400_000) });
      // The workers are down: the service waits for them, the relay for the service.
      await s.waitForMsg(/^paced by consumer group workers \(\d+ entries behind, cap 500\): reading from the relay pauses until it catches up$/, 15_000);
      await until(() => r.connections[0]?.tooSlow, 15_000, 'the relay drops the paced service');
      await sleep(500);
      const health = await s.http('/healthz');
      assert.equal(health.status, 200, health.body);
      assert.equal(health.json().pacedBy.group, 'workers');
      // The workers come back: everything arrives, once, in order.
      w.start();
      await until(async () => (await client.get(CURSOR_KEY)) === '4000', 30_000, `cursor 4000\n${why()}`);
      await until(() => w.seqs.length >= 4000, 15_000, 'the workers read everything');
      assertSeqs(w.seqs, range(1, 4000), 'workers');
      await s.waitForMsg(/^pacing ended after \d+ s: consumer groups caught up$/, 15_000);
      // One connection per drop, each resuming further on: no reconnect
      // that the relay dropped again before it delivered anything.
      const drops = r.connections.filter((c) => c.tooSlow).length;
      assert.ok(drops >= 1, 'dropped at least once');
      assert.equal(r.connections.length, drops + 1, `${r.connections.length} connections for ${drops} drops`);
      const cursors = r.connections.slice(1).map((c) => Number(c.cursor));
      cursors.forEach((c, i) => assert.ok(c > (i === 0 ? 0 : cursors[i - 1]!), `connection ${i + 1} resumed from ${c}, after ${cursors}`));
      assert.ok(s.find(/^relay dropped us as too slow \(more than 1048576 bytes waiting\); resuming from the cursor$/).length >= 1);
      const m = (await s.http('/metrics')).body;
      assert.equal(metric(m, 'firehose_reconnects_total', '{reason="consumer-too-slow"}'), drops);
      assert.ok(metric(m, 'firehose_paced_seconds_total')! > 0);
    });

    test('/healthz stays 200 while paced and names the group, 503 past RELAY_REPLAY_WINDOW_MS; /metrics has the group gauges', { timeout: 30_000 }, async () => {
      await GroupWorker.createGroup(client, 'workers', '0');
      const r = await relay(identityFrames(1, 400));
      const s = await start(r.url, { REDIS_MAX_STREAM_LEN: '100', RELAY_REPLAY_WINDOW_MS: '2500', STALL_TIMEOUT_MS: '60000' });
      await s.waitForMsg(/^paced by consumer group workers \(\d+ entries behind, cap 100\)/, 10_000);
      const ok = await s.http('/healthz');
      assert.equal(ok.status, 200, ok.body);
      const pacedBy = ok.json().pacedBy;
      assert.equal(pacedBy.group, 'workers');
      assert.ok(pacedBy.backlog >= 100, ok.body);
      const m = (await s.http('/metrics')).body;
      assert.equal(metric(m, 'firehose_paced'), 1);
      assert.ok(metric(m, 'firehose_group_undelivered', '{group="workers"}')! >= 100, m);
      assert.equal(metric(m, 'firehose_group_pending', '{group="workers"}'), 0);
      assert.equal(metric(m, 'firehose_group_stale', '{group="workers"}'), 0);
      // The newest written event gets older than the relay can replay.
      await until(async () => (await s.http('/healthz')).status === 503, 10_000, `503\n${why()}`);
      const bad = (await s.http('/healthz')).json();
      assert.equal(bad.reasons.length, 1, JSON.stringify(bad));
      assert.match(bad.reasons[0], /^paced by consumer group workers; the newest written event is [\d.]+ s old, past the relay's replay window \(RELAY_REPLAY_WINDOW_MS 2.5 s\): events are being lost at the relay$/);
      // The final progress line says who holds the writer back.
      s.signal('SIGTERM');
      assert.equal((await s.waitForExit()).code, 0);
      const last = s.find(/^Processed \d+ events/).pop()!;
      assert.match(last.msg, /as the active instance; paced by group workers \(\d+ behind\)$/);
    });

    test('refusals say what to change: an ACL without XINFO exits 1, a bad REDIS_TRIM exits 2', { timeout: 30_000 }, async () => {
      const r = await relay(identityFrames(1, 10));
      await GroupWorker.createGroup(client, 'workers', '0');
      await client.call('ACL', 'SETUSER', 'writer', 'on', '>pw', '~*', '&*', '+@all', '-xinfo');
      cleanups.push(() => client.call('ACL', 'DELUSER', 'writer'));
      const s = await ServiceProcess.start({ env: { RELAY_URL: r.url, REDIS_URL: `redis://writer:pw@127.0.0.1:${redis.port}`, REDIS_MAX_STREAM_LEN: '100' } });
      assert.equal((await s.waitForExit(10_000)).code, 1, s.tail());
      const errors = s.logs.filter((l) => l.level >= 50).map((l) => l.msg);
      assert.deepEqual(errors, [
        `the Redis user in REDIS_URL may not run XINFO on ${STREAM_KEY}, which pacing by consumer groups needs: grant them (ACL SETUSER <user> +xinfo +xpending), or set REDIS_TRIM=maxlen`,
      ]);
      assert.deepEqual([await client.xlen(STREAM_KEY), await client.get(CURSOR_KEY)], [0, null], 'nothing written');
      const bad = await runCli([], { env: { REDIS_URL: redis.url, REDIS_TRIM: 'blind' }, timeoutMs: 10_000 });
      assert.equal(bad.status.code, 2);
      assert.equal(bad.stderr, 'firehose-redis: REDIS_TRIM must be one of groups, maxlen, got "blind"\n');
    });
  });
}
