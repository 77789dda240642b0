/**
 * The service behind Redis Sentinel, against real processes: one primary,
 * two replicas and three sentinels (test/support/sentinel.ts), a fake relay
 * streaming at a steady rate. The primary is SIGKILLed, then a manual
 * SENTINEL FAILOVER follows; the stream on the last master must hold every
 * seq once, in order, although each failover loses acknowledged writes
 * that the writer has to notice and fetch again from the relay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticStream } from '../bench/corpus.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { SentinelSet } from './support/sentinel.js';
import { ServiceProcess, serviceTestKit, until, type LogLine } from './support/service-process.js';
import { assertStreamHolds } from './support/stream.js';

const STREAM = '{firehose}:events';
const CURSOR = '{firehose}:cursor';
const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

const { cleanups } = serviceTestKit();

/** Milliseconds of a stream entry ID (Redis's clock, this machine's). */
const idMs = (id: string) => Number(id.split('-')[0]);

async function cursorOf(set: SentinelSet, port: number): Promise<number> {
  return Number((await set.client(port).get(CURSOR).catch(() => null)) ?? 0);
}

test('Sentinel: primary SIGKILLed, then SENTINEL FAILOVER; every seq once, in order; lost writes fetched again', { timeout: 90_000 }, async () => {
  // Passwords on both: REDIS_URL's for the data nodes, REDIS_SENTINEL_PASSWORD for the sentinels.
  const set = await SentinelSet.start({ password: 'data-pw', sentinelPassword: 'sentinel-pw' });
  cleanups.push(() => set.stop());
  const total = 4000;
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, total, 1), { intervalMs: 2 });
  cleanups.push(() => relay.close());
  const first = set.nodes[0]!;
  const env = {
    RELAY_URL: relay.url,
    REDIS_URL: first.url,
    REDIS_SENTINELS: set.sentinelList,
    REDIS_SENTINEL_NAME: set.name,
    REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    REDIS_STREAM_KEY: STREAM,
    REDIS_CURSOR_KEY: CURSOR,
    REDIS_RETRY_MAX_MS: '1000',
    // The lease outlives the SIGKILL failover, not the demoted master's 11 s.
    LEASE_TTL_MS: '5000',
    STALL_TIMEOUT_MS: '30000',
  };
  const svc = await ServiceProcess.start({ env: { ...env, INSTANCE_ID: 'active' } });
  const fail = (e: Error) => {
    e.message += `\n${svc.tail(40)}`;
    throw e;
  };
  await svc.waitForMsg(/^holding the lease/);
  // A standby must follow the sentinels too: left on the demoted master, it
  // would see the lease expire there and take it.
  const standby = await ServiceProcess.start({ env: { ...env, INSTANCE_ID: 'standby' } });
  await standby.waitForMsg(/^standing by: instance active holds the lease/);

  // 1. The primary dies mid-stream.
  await until(async () => (await cursorOf(set, first.port)) >= 800, 20_000, 'cursor 800 on the primary').catch(fail);
  const killAt = Date.now();
  await first.kill('SIGKILL');
  const second = await set.waitForNewMaster(first.port);
  const promotedAfter = Date.now() - killAt;
  await svc.waitForMsg(new RegExp(`^master changed: sentinel reports 127\\.0\\.0\\.1:${second.port} \\(was 127\\.0\\.0\\.1:${first.port}\\)`), 15_000);
  await until(async () => (await cursorOf(set, second.port)) >= 2000, 30_000, 'cursor 2000 on the new master').catch(fail);

  // 2. A manual failover: the demoted master goes on acknowledging writes
  // until the sentinels reconfigure it, and those writes are lost.
  const logsBefore = svc.logs.length;
  const failoverAt = Date.now();
  await until(async () => set.failover().then(() => true, (e: Error) => !/INPROG|NOGOODSLAVE/.test(e.message) && Promise.reject(e)), 20_000, 'SENTINEL FAILOVER accepted');
  const third = await set.waitForNewMaster(second.port);
  const switched = await svc.waitForMsg(new RegExp(`^master changed: sentinel reports 127\\.0\\.0\\.1:${third.port} \\(was 127\\.0\\.0\\.1:${second.port}\\)`), 20_000, logsBefore);

  // Writes acknowledged by the demoted master are gone: the writer saw the
  // cursor go back on the new one and fetched the span again.
  const resync = await svc.waitForMsg(/^Redis lost acknowledged writes/, 15_000, logsBefore);
  assert.ok((resync.lost as number) > 0, `lost: ${resync.lost}`);
  assert.ok(Number(resync.cursor) < Number(resync.acknowledged));
  await until(() => relay.connections.some((c) => c.at >= resync.time && c.cursor === resync.cursor), 10_000, 'the relay asked again from the resync cursor');

  await until(async () => (await cursorOf(set, third.port)) === total, 60_000, `cursor ${total} on the last master`).catch(fail);
  const redis = set.client(third.port);
  const entries = await assertStreamHolds(redis, Array.from({ length: total }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });

  // The figures: from the kill to the first entry the new master took.
  const firstAfterKill = entries.find((e) => idMs(e.id) > killAt)!;
  const resyncs = svc.logs.filter((l: LogLine) => /^Redis lost acknowledged writes/.test(l.msg));
  console.log(
    `sentinel: all sentinels named the new master ${promotedAfter} ms after the kill; first write on the new master ${idMs(firstAfterKill.id) - killAt} ms after the kill; ` +
      `SENTINEL FAILOVER followed after ${switched.time - failoverAt} ms; resyncs: ${resyncs.map((l) => `lost ${l.lost} (cursor ${l.acknowledged} -> ${l.cursor})`).join(', ')}; ` +
      `relay connections from cursors ${relay.connections.map((c) => c.cursor).join(', ')}`,
  );
  await standby.waitForMsg(new RegExp(`^master changed: sentinel reports 127\\.0\\.0\\.1:${third.port} `), 5000);
  assert.deepEqual(standby.find(/took over|holding the lease/), [], 'the standby never wrote');
  assert.deepEqual(svc.find(/^fenced/), [], 'the active instance stayed active');
  const metrics = (await svc.http('/metrics')).body;
  assert.match(metrics, new RegExp(`^firehose_redis_node\\{node="127\\.0\\.0\\.1:${third.port}"\\} 1$`, 'm'));
  assert.equal(metrics.match(/^firehose_redis_node\{/gm)?.length, 1, 'one node at a time');
  assert.match(metrics, /^firehose_redis_topology_changes_total 2$/m);
  assert.equal((await svc.http('/healthz')).status, 200);
  assert.ok(svc.alive, svc.tail());
});

test('Sentinel with min-replicas-to-write 1: the demoted master refuses writes (NOREPLICAS, retried), the writer follows the sentinels; at most a moment of writes is lost, and fetched again', { timeout: 60_000 }, async () => {
  // One replica: once it is promoted, the old master has none left and
  // refuses every write. What it acknowledged before, the replica may not
  // have received yet when it was promoted (replication is asynchronous):
  // a few milliseconds of writes, caught and fetched again like any loss.
  const set = await SentinelSet.start({ replicas: 1, args: ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '2'] });
  cleanups.push(() => set.stop());
  const total = 1200;
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, total, 1), { intervalMs: 2 });
  cleanups.push(() => relay.close());
  const first = set.nodes[0]!;
  const svc = await ServiceProcess.start({
    env: {
      RELAY_URL: relay.url,
      REDIS_URL: first.url,
      REDIS_SENTINELS: set.sentinelList,
      REDIS_SENTINEL_NAME: set.name,
      REDIS_STREAM_KEY: STREAM,
      REDIS_CURSOR_KEY: CURSOR,
      REDIS_RETRY_MAX_MS: '1000',
      STALL_TIMEOUT_MS: '30000',
    },
  });
  await until(async () => (await cursorOf(set, first.port)) >= 400, 20_000, 'cursor 400');
  const failoverAt = Date.now();
  await set.failover();
  const second = await set.waitForNewMaster(first.port);
  const namedAt = Date.now();
  const switched = await svc.waitForMsg(new RegExp(`^master changed: sentinel reports 127\\.0\\.0\\.1:${second.port} `), 10_000);
  // The writer was retrying the refusing master: it asked the sentinels between attempts.
  const refused = svc.find(/has fewer replicas in sync than its min-replicas-to-write \(NOREPLICAS Not enough good replicas to write\): writing resumes once they catch up; retrying in/);
  assert.ok(refused.length > 0, svc.tail());
  assert.ok(switched.time - namedAt < 3000, `followed ${switched.time - namedAt} ms after the sentinels named the new master`);
  await until(async () => (await cursorOf(set, second.port)) === total, 30_000, `cursor ${total}`).catch((e: Error) => {
    e.message += svc.tail();
    throw e;
  });
  const entries = await assertStreamHolds(set.client(second.port), Array.from({ length: total }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });
  const losses = svc.find(/^Redis lost acknowledged writes/);
  const lost = losses.reduce((n, l) => n + Number(l.lost), 0);
  // Without min-replicas-to-write the same failover lost 38-756 events.
  assert.ok(lost <= 20, `lost ${lost}: ${losses.map((l) => l.msg).join('; ')}`);
  assert.equal(relay.connections.length, 1 + losses.length, 'fetched again once per loss, and only then');
  // The new master has no replica either until the old one rejoins it.
  const resumed = entries.find((e) => idMs(e.id) > refused[0]!.time)!;
  console.log(
    `sentinel, min-replicas-to-write 1: SENTINEL FAILOVER at 0, first NOREPLICAS at ${refused[0]!.time - failoverAt} ms, ` +
      `new master named at ${namedAt - failoverAt} ms (polled), followed at ${switched.time - failoverAt} ms, ` +
      `writing again at ${idMs(resumed.id) - failoverAt} ms; ${lost} lost and fetched again`,
  );
});

test('a sentinel that hangs (SIGSTOP) holds writing up for about a second: the next question goes to the next sentinel', { timeout: 60_000 }, async () => {
  const set = await SentinelSet.start({ replicas: 0 });
  cleanups.push(() => set.stop());
  const total = 1500;
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, total, 1), { intervalMs: 2 });
  cleanups.push(() => relay.close());
  const master = set.nodes[0]!;
  const svc = await ServiceProcess.start({
    env: {
      RELAY_URL: relay.url,
      REDIS_URL: master.url,
      REDIS_SENTINELS: set.sentinelList,
      REDIS_SENTINEL_NAME: set.name,
      REDIS_STREAM_KEY: STREAM,
      REDIS_CURSOR_KEY: CURSOR,
      // The defaults: without a bound of its own, a hung sentinel would hold the writes up this long.
      REDIS_CONNECT_TIMEOUT_MS: '5000',
      REDIS_COMMAND_TIMEOUT_MS: '10000',
      STALL_TIMEOUT_MS: '30000',
    },
  });
  await until(async () => (await cursorOf(set, master.port)) >= 300, 20_000, 'cursor 300');
  // The writer asks the first sentinel while it answers.
  const hung = set.sentinels[0]!;
  cleanups.push(async () => hung.signal('SIGCONT'));
  const stoppedAt = Date.now();
  hung.signal('SIGSTOP');
  await new Promise((r) => setTimeout(r, 3000));
  hung.signal('SIGCONT');
  await until(async () => (await cursorOf(set, master.port)) === total, 30_000, `cursor ${total}`).catch((e: Error) => {
    e.message += svc.tail();
    throw e;
  });
  const entries = await assertStreamHolds(set.client(master.port), Array.from({ length: total }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });
  const during = entries.filter((e) => idMs(e.id) >= stoppedAt - 500 && idMs(e.id) <= stoppedAt + 3500);
  let gap = 0;
  for (let i = 1; i < during.length; i++) gap = Math.max(gap, idMs(during[i]!.id) - idMs(during[i - 1]!.id));
  console.log(`sentinel SIGSTOPped for 3 s: longest pause between two entries ${gap} ms`);
  assert.ok(gap < 1800, `writing paused ${gap} ms`);
  assert.ok(svc.alive);
});
