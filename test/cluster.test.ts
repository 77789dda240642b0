/**
 * The service on a Redis Cluster, against real processes: three masters
 * with a replica each (test/support/cluster.ts), hash-tagged keys, a fake
 * relay streaming at a steady rate. The keys' slot is migrated to another
 * master while the stream runs, then that master is SIGKILLed so that its
 * replica takes over; the stream on the last owner must hold every seq
 * once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticStream } from '../bench/corpus.js';
import { RedisCluster } from './support/cluster.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import type { RedisServer } from './support/redis.js';
import { ServiceProcess, serviceTestKit, until, type LogLine } from './support/service-process.js';
import { assertStreamHolds } from './support/stream.js';

const STREAM = '{firehose}:events';
const CURSOR = '{firehose}:cursor';
const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

const { cleanups } = serviceTestKit();

const idMs = (id: string) => Number(id.split('-')[0]);

async function cursorOn(cluster: RedisCluster, node: RedisServer): Promise<number> {
  return Number((await cluster.client(node).get(CURSOR).catch(() => null)) ?? 0);
}

test('Cluster: the keys\' slot migrated mid-stream, then its new master SIGKILLed; every seq once, in order', { timeout: 90_000 }, async () => {
  const cluster = await RedisCluster.start();
  cleanups.push(() => cluster.stop());
  const slot = await cluster.slotOf(STREAM);
  const first = await cluster.owner(slot);
  const entry = await cluster.otherMaster(first);
  const total = 4000;
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, total, 1), { intervalMs: 2 });
  cleanups.push(() => relay.close());
  // REDIS_URL names a node that does not own the slot: the writer finds the owner.
  const svc = await ServiceProcess.start({
    env: {
      RELAY_URL: relay.url,
      REDIS_URL: entry.url,
      REDIS_STREAM_KEY: STREAM,
      REDIS_CURSOR_KEY: CURSOR,
      REDIS_RETRY_MAX_MS: '1000',
      // The relay goes quiet once the stream is done: keep /healthz about Redis.
      STALL_TIMEOUT_MS: '30000',
      DASHBOARD_RECENT_EVENTS: 'true',
      DASHBOARD_BROADCAST: 'true',
    },
  });
  const fail = (e: Error) => {
    e.message += `\n${svc.tail(40)}`;
    throw e;
  };
  await svc.waitForMsg(new RegExp(`^writing to Redis at 127\\.0\\.0\\.1:${first.port}$`));
  // The dashboard keys are in other slots: skipped, with one warning each;
  // the broadcast channel has no slot and stays.
  await svc.waitForMsg(/^firehose:recent_events is in another cluster slot/);
  const subscriber = cluster.client(first).duplicate();
  cleanups.push(async () => subscriber.disconnect());
  let broadcasts = 0;
  subscriber.on('message', () => broadcasts++);
  await subscriber.subscribe('firehose:events:broadcast');

  // 1. The slot moves to another master, one key at a time.
  await until(async () => (await cursorOn(cluster, first)) >= 800, 20_000, 'cursor 800 on the first owner').catch(fail);
  const second = await cluster.otherMaster(first);
  const migrateAt = Date.now();
  const migration = await cluster.migrateSlot(slot, second, { batch: 1, pauseMs: 150 });
  await svc.waitForLog((l) => new RegExp(`^slot ${slot} (moved to|is served by) 127\\.0\\.0\\.1:${second.port} \\(was 127\\.0\\.0\\.1:${first.port}\\)`).test(l.msg), 15_000);
  await until(async () => (await cursorOn(cluster, second)) >= 1800, 30_000, 'cursor 1800 on the new owner').catch(fail);

  // 2. The new owner dies; its replica takes the slot.
  const [replica] = await cluster.replicasOf(second);
  assert.ok(replica, 'the new owner has a replica');
  const killAt = Date.now();
  await second.kill('SIGKILL');
  const third = await cluster.waitForNewOwner(slot, second);
  const promotedAfter = Date.now() - killAt;
  assert.equal(third, replica);

  await until(async () => (await cursorOn(cluster, third)) === total, 60_000, `cursor ${total} on the last owner`).catch(fail);
  const entries = await assertStreamHolds(cluster.client(third), Array.from({ length: total }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });
  for (const key of ['firehose:status', 'firehose:recent_events']) {
    const owner = await cluster.owner(await cluster.slotOf(key));
    assert.equal(await cluster.client(owner).exists(key), 0, `${key}, in another slot, is not written`);
    const warned = svc.find(new RegExp(`^${key} is in another cluster slot than \\{firehose\\}:events`));
    assert.deepEqual(warned.map((l) => l.level), [40], `one warning for ${key}`);
  }
  assert.ok(broadcasts > 0, 'broadcasts are published');
  const metrics = (await svc.http('/metrics')).body;
  assert.match(metrics, new RegExp(`^firehose_redis_node\\{node="127\\.0\\.0\\.1:${third.port}"\\} 1$`, 'm'));
  assert.match(metrics, /^firehose_redis_topology_changes_total 2$/m);
  assert.equal((await svc.http('/healthz')).status, 200);

  // Writing pauses while the keys are split between the two masters.
  const around = entries.filter((e) => idMs(e.id) >= migrateAt - 1000 && idMs(e.id) < killAt);
  let gap = 0;
  for (let i = 1; i < around.length; i++) gap = Math.max(gap, idMs(around[i]!.id) - idMs(around[i - 1]!.id));
  const firstAfterKill = entries.find((e) => idMs(e.id) > killAt)!;
  const resyncs = svc.logs.filter((l: LogLine) => /^Redis lost acknowledged writes/.test(l.msg));
  console.log(
    `cluster: migration of ${migration.keys} keys took ${migration.totalMs} ms (longest MIGRATE ${migration.longestMigrateMs} ms), ` +
      `longest pause between two entries ${gap} ms; ` +
      `every node named the replica owner ${promotedAfter} ms after the kill, first write on it ${idMs(firstAfterKill.id) - killAt} ms after the kill; ` +
      `resyncs: ${resyncs.map((l) => `lost ${l.lost} (cursor ${l.acknowledged} -> ${l.cursor})`).join(', ') || 'none'}; ` +
      `relay connections from cursors ${relay.connections.map((c) => c.cursor).join(', ')}`,
  );
  assert.ok(svc.alive, svc.tail());
});
