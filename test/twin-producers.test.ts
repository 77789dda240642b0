/**
 * Several instances of the service on one Redis, as a rolling deploy or a
 * standby makes them: one holds the lease and writes, the others stand by
 * without a relay connection, and take over within LEASE_TTL_MS plus a
 * second of the active dying (SIGKILL) or freezing (SIGSTOP). An active
 * that wakes up to find its lease taken writes nothing. The services are
 * the CLI in child processes, the relay a fake one, Redis a real one.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Redis } from 'ioredis';
import { syntheticStream } from '../bench/corpus.js';
import { createIngester } from '../src/ingester.js';
import { FakeRelay, type RelayFrame } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer } from './support/redis.js';
import { LEVEL, ServiceProcess, serviceTestKit, type LogLine } from './support/service-process.js';
import { CURSOR_KEY, tally } from './support/stream.js';

const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);
const LEASE_TTL_MS = 1000;
/** The issue's bound on a takeover. */
const TAKEOVER_BOUND_MS = LEASE_TTL_MS + 1000;

const { cleanups, services, until } = serviceTestKit();

async function setup(frames: RelayFrame[]): Promise<{ redis: Redis; server: RedisServer; relay: FakeRelay }> {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const relay = await FakeRelay.start(frames, { intervalMs: 1 });
  cleanups.push(() => relay.close());
  return { server, relay, redis: server.client() };
}

async function instance(id: string, relay: FakeRelay, server: RedisServer): Promise<ServiceProcess> {
  const svc = await ServiceProcess.start({
    env: { RELAY_URL: relay.url, REDIS_URL: server.url, INSTANCE_ID: id, LEASE_TTL_MS: String(LEASE_TTL_MS) },
  });
  services.push(svc);
  return svc;
}

const cursorOf = async (redis: Redis) => Number((await redis.get(CURSOR_KEY)) ?? 0);
const tookOver = (l: LogLine) => /^took over the lease/.test(l.msg);
const holding = (l: LogLine) => /^(holding|took over) the lease/.test(l.msg);

async function role(svc: ServiceProcess): Promise<{ status: number; role: string }> {
  const h = await svc.http('/healthz');
  return { status: h.status, role: h.json().role };
}

function metric(body: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

test('two instances: the active frozen past its lease is replaced, wakes up fenced and stands by; the new active killed is replaced by it; every event once, in order', { timeout: 40_000 }, async (t: TestContext) => {
  const N = 5000;
  const { server, relay, redis } = await setup(syntheticStream(JETSTREAM, N, 1));
  const a = await instance('alpha', relay, server);
  await a.waitForLog(holding, 10_000);
  const b = await instance('beta', relay, server);
  await b.waitForMsg(/^standing by: instance alpha holds the lease/, 10_000);
  await until(async () => (await cursorOf(redis)) > 500, 10_000, 'alpha writing');
  assert.deepEqual(await role(b), { status: 200, role: 'standby' }, 'a healthy standby answers 200');
  assert.equal(metric((await b.http('/metrics')).body, 'firehose_active'), 0);
  const relayConnsBeforeStop = relay.connections.length;

  // alpha freezes (SIGSTOP: a GC pause, a partition): beta takes over.
  const stoppedAt = Date.now();
  a.signal('SIGSTOP');
  const took1 = await b.waitForLog(tookOver, TAKEOVER_BOUND_MS + 3000);
  const firstTakeoverMs = took1.time - stoppedAt;
  const atTakeover = await cursorOf(redis);
  await until(async () => (await cursorOf(redis)) > atTakeover + 500, 10_000, 'beta writing');

  // alpha wakes up: its lease is gone, so it writes nothing and says so once.
  const from = a.logs.length;
  a.signal('SIGCONT');
  const fenced = await a.waitForMsg(/^fenced: instance beta holds the lease/, 5000, from);
  await until(async () => (await role(a)).role === 'standby', 5000, 'alpha standing by');
  assert.deepEqual(await role(a), { status: 200, role: 'standby' });

  // beta dies: alpha, standing by, takes over again.
  const killedAt = Date.now();
  await b.kill();
  const took2 = await a.waitForLog(tookOver, TAKEOVER_BOUND_MS + 3000, from);
  const secondTakeoverMs = took2.time - killedAt;
  await until(async () => (await cursorOf(redis)) === N, 20_000, `cursor ${N}`);

  const result = await tally(redis, 1, N);
  const aMetrics = (await a.http('/metrics')).body;
  const afterWake = a.logs.slice(from);
  t.diagnostic(`takeover after SIGSTOP: ${firstTakeoverMs} ms; after SIGKILL: ${secondTakeoverMs} ms (bound ${TAKEOVER_BOUND_MS} ms)`);
  t.diagnostic(`alpha on waking: ${afterWake.filter((l) => l.level >= LEVEL.warn).map((l) => `[${l.level}] ${l.msg}`).join(' | ')}`);
  t.diagnostic(`stream: ${JSON.stringify(result)}`);
  assert.deepEqual({ missing: result.missing, duplicated: result.duplicated, outOfOrder: result.outOfOrder }, { missing: 0, duplicated: 0, outOfOrder: 0 });
  assert.ok(firstTakeoverMs <= TAKEOVER_BOUND_MS, `takeover after SIGSTOP took ${firstTakeoverMs} ms`);
  assert.ok(secondTakeoverMs <= TAKEOVER_BOUND_MS, `takeover after SIGKILL took ${secondTakeoverMs} ms`);
  assert.equal(fenced.level, LEVEL.error);
  assert.equal(afterWake.filter((l) => /^fenced/.test(l.msg)).length, 1, 'one line says it is fenced');
  // Nothing from its connection of before the freeze reached its writer after the takeover.
  assert.deepEqual(afterWake.filter((l) => /^frame with seq \d+ skipped/.test(l.msg)).map((l) => l.msg).slice(0, 3), []);
  // Between waking and taking over again, alpha wrote nothing and read nothing.
  const wokeUntilTakeover = afterWake.slice(0, afterWake.indexOf(took2));
  assert.deepEqual(wokeUntilTakeover.filter((l) => /^Processed \d+ events/.test(l.msg) && l.role === 'active' && l.time > fenced.time), []);
  assert.ok(relay.connections.length >= relayConnsBeforeStop + 2, 'beta, then alpha again, connected to the relay');
  assert.equal(metric(aMetrics, 'firehose_active'), 1);
  assert.equal(metric(aMetrics, 'firehose_takeovers_total'), 1);
});

test('three instances started at once: one writes, two stand by; the active killed, one of the others takes over; every event once, in order', { timeout: 30_000 }, async (t: TestContext) => {
  const N = 3000;
  const { server, relay, redis } = await setup(syntheticStream(JETSTREAM, N, 1));
  const all = await Promise.all(['one', 'two', 'three'].map((id) => instance(id, relay, server)));
  await until(async () => (await cursorOf(redis)) > 500, 10_000, 'someone writing');
  const roles = await Promise.all(all.map(role));
  const active = all.filter((_, i) => roles[i]!.role === 'active');
  t.diagnostic(`roles: ${JSON.stringify(roles)}`);
  assert.equal(active.length, 1, 'exactly one active');
  assert.ok(roles.every((r) => r.status === 200), 'healthy, active or standby');
  const killedAt = Date.now();
  await active[0]!.kill();
  const rest = all.filter((s) => s !== active[0]);
  const took = await Promise.any(rest.map((s) => s.waitForLog(tookOver, TAKEOVER_BOUND_MS + 3000)));
  const takeoverMs = took.time - killedAt;
  await until(async () => (await cursorOf(redis)) === N, 20_000, `cursor ${N}`);
  const after = await Promise.all(rest.map(role));
  const result = await tally(redis, 1, N);
  t.diagnostic(`takeover after SIGKILL: ${takeoverMs} ms; roles after: ${JSON.stringify(after)}; stream: ${JSON.stringify(result)}`);
  assert.deepEqual({ missing: result.missing, duplicated: result.duplicated, outOfOrder: result.outOfOrder }, { missing: 0, duplicated: 0, outOfOrder: 0 });
  assert.ok(takeoverMs <= TAKEOVER_BOUND_MS, `takeover took ${takeoverMs} ms`);
  assert.deepEqual(after.map((r) => r.role).sort(), ['active', 'standby']);
});

test('an active whose lease another instance took, asked for its cursor (a relay reconnect) before its next renewal: stands by, instead of following the other\'s cursor', { timeout: 20_000 }, async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const redis = server.client();
  const ing = createIngester({ redisUrl: server.url, instanceId: 'alpha', leaseTtlMs: 10_000, dashboardStatus: false });
  cleanups.push(() => ing.close(2000));
  const events: string[] = [];
  ing.on('role', (r, holder) => events.push(`role ${r} ${holder}`));
  ing.on('resync', (r) => events.push(`resync ${r.message}`));
  await ing.cursor();
  for (const f of syntheticStream(JETSTREAM, 100, 1)) ing.push(f.bytes);
  await until(async () => (await cursorOf(redis)) === 100, 5000, 'cursor 100');
  // beta took the lease (alpha was frozen past it) and wrote on.
  await redis.set('firehose:events:lease', 'beta 0123456789abcdef', 'PX', 10_000);
  const id = await redis.xadd('firehose:events', '*', 'type', 'commit', 'data', '{}', 'seq', '150');
  await redis.set('firehose:events:fence', id!);
  await redis.set(CURSOR_KEY, '150');
  events.length = 0;
  await ing.resume();
  await until(() => events.length > 0, 5000, 'an event');
  assert.deepEqual(events, ['role standby beta 0123456789abcdef']);
});
