/**
 * Exactly once through what Redis does wrong: host crashes that lose the
 * last second of acknowledged writes (appendfsync everysec), Redis 7.0
 * replaying half a transaction from a torn AOF, a request that reaches
 * Redis long after the writer gave up on it, a command refused inside the
 * batch, a promoted replica that missed the last writes, and a restart
 * (LOADING). The service runs as an operator runs it (the CLI in a child
 * process) against a fake relay, so a resync really fetches the lost span
 * again; every Redis is a real redis-server of the test's own.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import type { Redis } from 'ioredis';
import { syntheticStream } from '../bench/corpus.js';
import { AofSampler, incrFile, multiOffsets, xaddOffsets } from './support/aof.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer, ping } from './support/redis.js';
import { LEVEL, ServiceProcess, serviceTestKit } from './support/service-process.js';
import { CURSOR_KEY, readStream, tally, type Tally } from './support/stream.js';
import { TcpProxy } from './support/tcp-proxy.js';

const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { cleanups, services, until, redisServer, fakeRelay } = serviceTestKit();

async function service(relayUrl: string, redisUrl: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const svc = await ServiceProcess.start({
    env: { RELAY_URL: relayUrl, REDIS_URL: redisUrl, REDIS_RETRY_MAX_MS: '500', ...env },
  });
  services.push(svc);
  return svc;
}

const cursorOf = async (redis: Redis) => Number((await redis.get(CURSOR_KEY)) ?? 0);

const waitForCursor = (redis: Redis, want: number, timeoutMs: number) =>
  until(async () => (await cursorOf(redis)) === want, timeoutMs, `cursor = ${want}`);

function assertClean(t: Tally, what: string): void {
  assert.deepEqual({ missing: t.missing, duplicated: t.duplicated, outOfOrder: t.outOfOrder, unexpected: t.unexpected }, { missing: 0, duplicated: 0, outOfOrder: 0, unexpected: 0 }, `${what}: ${JSON.stringify(t)}`);
}

// -------------------------------------------------------------- host crash

test('host crash under appendfsync everysec, 4 times in one run: Redis loses its last second, the writer fetches it again; 0 missing, 0 duplicated', { timeout: 60_000 }, async (t: TestContext) => {
  // The settings the README recommends: a torn AOF is repaired before
  // Redis loads it (redis-check-aof --fix), never half-loaded.
  const { server, redis } = await redisServer({
    appendonly: true,
    appendfsync: 'everysec',
    checkAofAtStart: true,
    args: ['--aof-load-truncated', 'no', '--auto-aof-rewrite-percentage', '0'],
  });
  // About 2,000 events/s. The relay's stream grows ahead of the writer, so
  // that however fast this machine runs, every crash comes before its end.
  const frames = syntheticStream(JETSTREAM, 40_000, 1);
  let N = 6000;
  const relay = await fakeRelay(frames.slice(0, N), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, server.url);
  const sampler = new AofSampler(server.aofDir);
  sampler.start();
  cleanups.push(async () => sampler.stop());
  const crashes: Array<{ acked: number; cutBytes: number; recoveredMs: number }> = [];
  let last = 0;
  for (let i = 0; i < 4; i++) {
    const ahead = last + 6000 - N;
    if (ahead > 0) {
      relay.append(frames.slice(N, N + ahead));
      N += ahead;
    }
    // Over a second of writes since the last recovery: the cut loses acknowledged ones.
    await until(async () => (await cursorOf(redis)) > last + 500, 20_000, `writes after crash ${i}`);
    await sleep(1100);
    const acked = await cursorOf(redis);
    await server.kill();
    const cut = sampler.cutBack(1000);
    await server.startAgain();
    const t0 = Date.now();
    await until(async () => (await cursorOf(redis)) > acked, 20_000, `writing past ${acked} after crash ${i}`);
    crashes.push({ acked, cutBytes: cut.from - cut.to, recoveredMs: Date.now() - t0 });
    last = await cursorOf(redis);
  }
  await waitForCursor(redis, N, 30_000);
  // A torn transaction left in the AOF would only show at the next load.
  await server.restart();
  const result = await tally(redis, 1, N);
  const regressions = svc.find(/^Redis lost acknowledged writes/);
  t.diagnostic(`crashes: ${JSON.stringify(crashes)}`);
  t.diagnostic(`regressions (cursor, acknowledged, lost): ${JSON.stringify(regressions.map((l) => [l.cursor, l.acknowledged, l.lost]))}`);
  t.diagnostic(`stream: ${JSON.stringify(result)}`);
  assertClean(result, 'after 4 host crashes');
  // Each crash lost acknowledged writes, and each loss was noticed once.
  assert.equal(regressions.length, crashes.length, 'one regression logged per crash');
  regressions.forEach((l, i) => {
    assert.equal(l.level, LEVEL.error);
    // At least what Redis held just before the kill: a batch may have applied in between.
    assert.ok(Number(l.acknowledged) >= crashes[i]!.acked, 'the acknowledged cursor it names');
    assert.ok(Number(l.cursor) < crashes[i]!.acked);
  });
});

// ------------------------------------------------------- stale transaction

/** A batch request: a transaction that sets the fence key. */
const isBatch = (_l: unknown, chunk: Buffer) => chunk.includes('MULTI') && chunk.includes('firehose:events:fence');
/** EXEC answered nil: a watched key had changed, the transaction applied nothing. */
const aborted = (answer: string) => /\r\n\*-1\r\n/.test(answer);


test('stale transaction: a batch held back past REDIS_COMMAND_TIMEOUT_MS, resent on a new connection, then delivered late: refused (FENCED); 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  const proxy = await TcpProxy.start(server.port);
  cleanups.push(() => proxy.close());
  const N = 2000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, proxy.url, { REDIS_COMMAND_TIMEOUT_MS: '1000' });
  await until(async () => (await cursorOf(redis)) > 300, 10_000, 'first writes');
  // The network swallows the next batch request: the writer hears nothing.
  proxy.holdOn(isBatch);
  const held = await until(() => proxy.heldLinks[0], 5000, 'a batch request held');
  const heldAt = Date.now();
  const timedOut = await svc.waitForMsg(/did not answer in time/, 5000);
  // It reconnected (through the proxy, as the network now lets it) and moved on.
  const past = await cursorOf(redis);
  await until(async () => (await cursorOf(redis)) > past + 300, 10_000, 'writes after the resend');
  // Now the old request arrives: its cursor is no longer Redis's.
  const answer = await proxy.release(held);
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  t.diagnostic(`timed out after ${timedOut.time - heldAt} ms; the late request's EXEC ${aborted(answer) ? 'applied nothing' : 'applied'}; stream: ${JSON.stringify(result)}`);
  assert.ok(aborted(answer), 'the late transaction applied nothing (its watched keys had changed)');
  assertClean(result, 'after a stale request');
});

test('stale transaction released between the writer\'s check and its resend: exactly one of the two applies; 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  const proxy = await TcpProxy.start(server.port);
  cleanups.push(() => proxy.close());
  const N = 2000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  await service(relay.url, proxy.url, { REDIS_COMMAND_TIMEOUT_MS: '1000' });
  await until(async () => (await cursorOf(redis)) > 300, 10_000, 'first writes');
  proxy.holdOn(isBatch);
  const old = await until(() => proxy.heldLinks[0], 5000, 'a batch request held');
  const before = await cursorOf(redis);
  // The writer times out, reconnects, finds its batch not landed and resends: hold that too.
  proxy.holdOn(isBatch);
  const resend = await until(() => proxy.heldLinks.find((l) => l !== old), 5000, 'the resend held');
  assert.equal(await cursorOf(redis), before, 'nothing written meanwhile');
  // The old request lands first, then the resend arrives.
  const first = await proxy.release(old, 100);
  const second = await proxy.release(resend, 100);
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  t.diagnostic(`old request ${aborted(first) ? 'refused' : 'applied'}; resend ${aborted(second) ? 'refused' : 'applied'}; stream: ${JSON.stringify(result)}`);
  // Taking the lease on the new connection already voided the old
  // transaction's WATCH; whichever way it goes, exactly one applies.
  assert.equal([first, second].filter((a) => !aborted(a)).length, 1, 'exactly one of the two transactions applied');
  assertClean(result, 'after a stale request that landed');
});

// ------------------------------------------------ a command refused inside

test('OOM inside the batch (maxmemory lowered mid-run): nothing half-written, retried; after a restart, 0 missing, 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  const N = 2000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const first = await service(relay.url, server.url);
  await until(async () => (await cursorOf(redis)) > 300, 10_000, 'first writes');
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await redis.config('SET', 'maxmemory', String(used - 100_000));
  const refused = await first.waitForMsg(/OOM command not allowed/, 5000);
  await sleep(500);
  // Every entry in the stream is under the cursor: the refused batch left nothing.
  const stuck = await cursorOf(redis);
  assert.equal(await redis.xlen('firehose:events'), stuck);
  await first.kill();
  await redis.config('SET', 'maxmemory', '0');
  const second = await service(relay.url, server.url);
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  t.diagnostic(`refused at cursor ${stuck} (${refused.msg}); stream: ${JSON.stringify(result)}`);
  assert.equal(refused.level, LEVEL.warn);
  assertClean(result, 'after OOM and a restart');
  await second.waitForMsg(new RegExp(`resuming from cursor ${stuck}`), 1000);
});

test('ACL change mid-run refusing the batch\'s lease renewal: fatal, one line, nothing half-written; after a restart, 0 missing, 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  await redis.acl('SETUSER', 'writer', 'on', '>secret', '~*', '&*', '+@all');
  const url = `redis://writer:secret@127.0.0.1:${server.port}`;
  const N = 2000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const first = await service(relay.url, url);
  await until(async () => (await cursorOf(redis)) > 300, 10_000, 'first writes');
  await redis.acl('SETUSER', 'writer', '-pexpire');
  const status = await first.waitForExit(10_000);
  const fatal = first.logs.filter((l) => l.level >= LEVEL.error && /may not/.test(l.msg));
  const stopped = await cursorOf(redis);
  // The refused batch wrote nothing: Redis holds what the service last called durable.
  const last = first.logs.filter((l) => /^stopped /.test(l.msg)).pop();
  assert.equal(String(stopped), last?.cursor, `Redis's cursor and the last durable one (${last?.msg})`);
  assert.equal(await redis.xlen('firehose:events'), stopped);
  await redis.acl('SETUSER', 'writer', '+pexpire');
  await service(relay.url, url);
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  t.diagnostic(`exit ${JSON.stringify(status)} at cursor ${stopped}: ${fatal[0]?.msg}; stream: ${JSON.stringify(result)}`);
  assert.equal(status.code, 1);
  assert.equal(fatal.length, 1, 'one line says what to change');
  assertClean(result, 'after an ACL refusal and a restart');
});

// ------------------------------------------------------- replica promotion

test('replica promoted behind a stable address (REDIS_URL on a proxy): the replica missed the last writes; the writer fetches them again without a restart; 0 missing, 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server: primary } = await redisServer({ args: ['--repl-diskless-sync-delay', '0'] });
  // The replication link runs through a proxy of its own, so that the test
  // can make the replica fall behind, as an async replica does.
  const link = await TcpProxy.start(primary.port);
  cleanups.push(() => link.close());
  const { server: replica, redis } = await redisServer({ args: ['--replicaof', '127.0.0.1', String(link.port)] });
  await until(async () => /master_link_status:up/.test(await redis.info('replication')), 10_000, 'replica in sync');
  const endpoint = await TcpProxy.start(primary.port);
  cleanups.push(() => endpoint.close());
  const N = 3000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, endpoint.url);
  await until(async () => (await cursorOf(redis)) > 500, 10_000, 'writes replicated');
  link.pauseAll();
  const replicated = await cursorOf(redis);
  await sleep(500);
  // The failover: the primary dies, the replica is promoted, the address moves.
  const primaryClient = primary.client();
  const acked = Number(await primaryClient.get(CURSOR_KEY));
  await primary.kill();
  link.dropAll();
  await redis.replicaof('NO', 'ONE');
  endpoint.setBackend(replica.port);
  endpoint.dropAll();
  const t0 = Date.now();
  await until(async () => (await cursorOf(redis)) > acked, 15_000, 'writing past the lost span on the promoted replica');
  const caughtUpMs = Date.now() - t0;
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  const regression = svc.find(/^Redis lost acknowledged writes/);
  t.diagnostic(`replica had ${replicated}, primary acknowledged ${acked}; writing past it ${caughtUpMs} ms after the switch; logged: ${regression.map((l) => `lost ${l.lost}`).join(', ')}; stream: ${JSON.stringify(result)}`);
  assert.ok(replicated < acked, 'the replica missed acknowledged writes');
  assertClean(result, 'after the promotion');
  assert.equal(regression.length, 1);
  // Measured a moment before the switch: replication and the writer may
  // each have moved a batch further by then.
  const [cursor, acknowledged] = [Number(regression[0]!.cursor), Number(regression[0]!.acknowledged)];
  assert.ok(cursor >= replicated && cursor < acked, `cursor ${cursor}: the promoted replica's`);
  assert.ok(acknowledged >= acked, `acknowledged ${acknowledged}`);
  assert.equal(regression[0]!.lost, acknowledged - cursor, 'every frame makes an entry here: lost events = seqs');
});

// ------------------------------------------------------------ Redis restart

test('Redis restarts with a slow load: LOADING is reported as "starting" (a warning), and the writer writes again within moments of Redis being ready', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer({ appendonly: true });
  const N = 6000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 4 });
  // Loading Redis accepts connections only between chunks of 1024 commands: give a connect time.
  const svc = await service(relay.url, server.url, { REDIS_CONNECT_TIMEOUT_MS: '3000' });
  await until(async () => (await cursorOf(redis)) > 3000, 15_000, '3000 entries');
  await server.kill();
  const from = svc.logs.length;
  await sleep(300);
  // About a second of loading, during which Redis answers LOADING.
  await server.startAgain(['--key-load-delay', '150'], 'loading');
  const loadingAt = Date.now();
  const probe = server.client();
  let readyAt = 0;
  let before = 0;
  await until(async () => {
    const r = await ping(server.port);
    if (r === 'pong' && !readyAt) {
      readyAt = Date.now();
      before = Number(await probe.xlen('firehose:events'));
    }
    return readyAt > 0;
  }, 15_000, 'Redis loaded');
  let wroteAt = 0;
  await until(async () => {
    if (Number(await probe.xlen('firehose:events')) > before) wroteAt = Date.now();
    return wroteAt > 0;
  }, 10_000, 'a write after the load');
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  const during = svc.logs.slice(from);
  const loading = during.filter((l) => /is starting \(loading its data/.test(l.msg));
  t.diagnostic(`loading took ${readyAt - loadingAt} ms; first write ${wroteAt - readyAt} ms after Redis was ready; "${loading[0]?.msg}"; stream: ${JSON.stringify(result)}`);
  assert.ok(loading.length >= 1, `LOADING is reported: ${during.map((l) => l.msg).join("\n")}`);
  assert.ok(during.every((l) => l.level < LEVEL.error), `no error lines: ${JSON.stringify(during.filter((l) => l.level >= LEVEL.error))}`);
  assert.ok(wroteAt - readyAt < 1000, `wrote ${wroteAt - readyAt} ms after Redis was ready`);
  assertClean(result, 'after the restart');
});

test('Redis comes back empty (no persistence) while the relay is between connections: an error says the past is gone; the relay resumes from the last durable cursor, never live', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  const relay = await fakeRelay(syntheticStream(JETSTREAM, 500, 1), { intervalMs: 1, burst: 4 });
  // The relay goes quiet after 500 frames: the service reconnects every STALL_TIMEOUT_MS (1 s).
  const svc = await service(relay.url, server.url);
  await waitForCursor(redis, 500, 10_000);
  const connectionsBefore = relay.connections.length;
  await server.restart();
  await svc.waitForMsg(/^Redis came back empty/, 10_000);
  await until(() => relay.connections.length >= connectionsBefore + 2, 10_000, 'two relay reconnects after the restart');
  relay.append(syntheticStream(JETSTREAM, 300, 501));
  await waitForCursor(redis, 800, 10_000);
  const after = relay.connections.slice(connectionsBefore).map((c) => c.cursor);
  const result = await tally(redis, 501, 800);
  const line = svc.find(/^Redis came back empty/);
  t.diagnostic(`"${line[0]?.msg}"; relay cursors after the restart: ${after.join(', ')}; stream: ${JSON.stringify(result)}`);
  assert.deepEqual(after.filter((c) => c !== '500'), [], 'every reconnect after the restart resumes from 500');
  assert.equal(line.length, 1);
  assert.equal(line[0]!.level, LEVEL.error);
  assertClean(result, 'after Redis came back empty');
});

// ------------------------------------------------------------- a torn AOF

test('Redis 7.0 replays half a transaction (AOF torn inside a batch, aof-load-truncated yes, another client\'s MULTI after it): the writer adopts the replayed entries, logs it once; 0 missing, 0 duplicated', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer({ appendonly: true, args: ['--aof-load-truncated', 'yes', '--auto-aof-rewrite-percentage', '0'] });
  const N = 2000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const first = await service(relay.url, server.url);
  await until(async () => (await cursorOf(redis)) > 800, 10_000, 'first writes');
  // The host dies: Redis and the service with it, a batch half on disk.
  await Promise.all([first.kill(), server.kill()]);
  tearLastBatch(server);
  // Redis loads what it can and leaves the file ending inside the MULTI ...
  await server.startAgain();
  // ... so the next transaction on this Redis, anyone's, closes it: at the
  // next load the half batch runs, without its cursor and fence.
  await redis.multi().set('other:app', '1').incr('other:counter').exec();
  await server.restart();
  const cursor = await cursorOf(redis);
  const tail = (await redis.xrevrange('firehose:events', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  const fence = await redis.get('firehose:events:fence');
  const tailSeq = Number(tail[0]![1][5]);
  assert.ok(tailSeq > cursor && tail[0]![0] !== fence, `entries past the cursor (${cursor}) and the fence: seq ${tailSeq}`);

  const second = await service(relay.url, server.url);
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  const adopted = second.find(/^Redis replayed part of a transaction/);
  t.diagnostic(`Redis log: ${server.log().split('\n').filter((l) => /short read|Truncating|MULTI/.test(l)).map((l) => l.replace(/^\d+:M [^#*]*[#*] /, '')).join(' | ')}`);
  t.diagnostic(`cursor ${cursor}, replayed entries up to seq ${tailSeq}; "${adopted[0]?.msg}"; stream: ${JSON.stringify(result)}`);
  assertClean(result, 'after a replayed half transaction');
  assert.equal(adopted.length, 1);
  assert.equal(adopted[0]!.level, LEVEL.error);
  await second.waitForMsg(new RegExp(`resuming from cursor ${tailSeq}`), 1000);
});

/** With Redis killed: cuts its AOF inside the last batch of 3 or more entries (inside its last XADD); returns the cut offset. */
function tearLastBatch(server: RedisServer): number {
  const file = incrFile(server.aofDir);
  const size = fs.statSync(file).size;
  const multis = multiOffsets(file);
  for (let i = multis.length - 1; i >= 0; i--) {
    const xadds = xaddOffsets(file, multis[i]!, multis[i + 1] ?? size);
    if (xadds.length >= 3) {
      const cut = xadds[xadds.length - 1]! + 20;
      fs.truncateSync(file, cut);
      return cut;
    }
  }
  throw new Error('no batch of 3 or more entries in the AOF');
}

test('Redis 7.0 replays half a batch in the middle of the stream (torn AOF, aof-load-truncated yes, the writer\'s next batch closes the MULTI): the writer, alive across both restarts, logs the duplicates once', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer({ appendonly: true, args: ['--aof-load-truncated', 'yes', '--auto-aof-rewrite-percentage', '0'] });
  const N = 2500;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, server.url);
  await until(async () => (await cursorOf(redis)) > 800, 10_000, 'first writes');
  await server.kill();
  tearLastBatch(server);
  await server.startAgain();
  const resumed = await cursorOf(redis);
  await until(async () => (await cursorOf(redis)) > resumed + 300, 10_000, 'writes after the first restart');
  // The next load runs the half batch, just before the writer's first batch after the crash.
  await server.restart();
  await waitForCursor(redis, N, 20_000);
  const result = await tally(redis, 1, N);
  const logged = svc.find(/^Redis replayed part of a transaction/);
  t.diagnostic(`"${logged[0]?.msg}"; stream: ${JSON.stringify(result)}`);
  assert.ok(result.duplicated > 0 && result.missing === 0, `Redis duplicated entries: ${JSON.stringify(result)}`);
  assert.equal(logged.length, 1, 'logged once');
  assert.equal(logged[0]!.level, LEVEL.error);
  assert.match(logged[0]!.msg, new RegExp(`${result.duplicated} entries`));
});

test('Redis comes back empty while batches are in flight: the stream goes on from the last acknowledged cursor, without a gap and without going live', { timeout: 30_000 }, async (t: TestContext) => {
  const { server, redis } = await redisServer();
  const N = 3000;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, server.url);
  await until(async () => (await cursorOf(redis)) > 800, 10_000, 'first writes');
  const acked = await cursorOf(redis);
  await server.restart();
  await waitForCursor(redis, N, 20_000);
  const entries = await readStream(redis);
  const first = Number(entries[0]!.fields[5]);
  const result = await tally(redis, first, N);
  const line = svc.find(/^Redis came back empty/);
  t.diagnostic(`acknowledged ${acked} before the restart; the stream now starts at ${first}; "${line[0]?.msg}"; stream: ${JSON.stringify(result)}`);
  // Gone with Redis: what was acknowledged before; no gap after it.
  assert.ok(first >= acked + 1 && first <= acked + 200, `the stream restarts just after ${acked}: ${first}`);
  assert.match(line[0]!.msg, new RegExp(`up to seq ${first - 1} went with it`));
  assertClean(result, 'after Redis came back empty');
  assert.equal(line.length, 1);
  assert.deepEqual(relay.connections.slice(1).filter((c) => c.cursor === null).length, 0, 'never live');
});

test('a Redis user without XRANGE: the check for replayed entries is skipped with one warning, the writer goes on', { timeout: 20_000 }, async () => {
  const { server, redis } = await redisServer();
  await redis.acl('SETUSER', 'writer', 'on', '>secret', '~*', '&*', '+@all', '-xrange');
  const N = 1500;
  const relay = await fakeRelay(syntheticStream(JETSTREAM, N, 1), { intervalMs: 1, burst: 2 });
  const svc = await service(relay.url, `redis://writer:secret@127.0.0.1:${server.port}`);
  await until(async () => (await cursorOf(redis)) > 300, 10_000, 'first writes');
  // A new connection is when the writer looks.
  await redis.client('KILL', 'USER', 'writer');
  await waitForCursor(redis, N, 15_000);
  assertClean(await tally(redis, 1, N), 'without XRANGE');
  const warned = svc.find(/^cannot look for entries that Redis replayed twice/);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.level, LEVEL.warn);
  assert.ok(svc.alive);
});
