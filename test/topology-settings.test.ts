/**
 * Sentinel and Cluster settings that cannot work, against real processes:
 * each gets one line saying what to change. A misconfiguration exits 2 as
 * soon as Redis has answered; trouble that can pass (no sentinel reachable,
 * the keys' slot assigned to nobody) is retried with backoff, shows in
 * /healthz, and writing starts once it is over.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { syntheticStream } from '../bench/corpus.js';
import { RedisCluster } from './support/cluster.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { SentinelSet } from './support/sentinel.js';
import { LEVEL, ServiceProcess, stopAllServices, until, type LogLine } from './support/service-process.js';
import { assertStreamHolds } from './support/stream.js';

const STREAM = '{firehose}:events';
const CURSOR = '{firehose}:cursor';
const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

let sentinels: SentinelSet;
let cluster: RedisCluster;
let relay: FakeRelay;

before(async () => {
  [sentinels, cluster, relay] = await Promise.all([
    SentinelSet.start({ replicas: 0, sentinels: 1, sentinelPassword: 'sentinel-pw' }),
    RedisCluster.start({ replicasPerMaster: 0 }),
    FakeRelay.start(syntheticStream(JETSTREAM, 50, 1)),
  ]);
});
afterEach(stopAllServices);
after(async () => {
  await stopAllServices();
  await Promise.all([sentinels?.stop(), cluster?.stop(), relay?.close()]);
});

function sentinelEnv(env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    RELAY_URL: relay.url,
    REDIS_URL: sentinels.nodes[0]!.url,
    REDIS_SENTINELS: sentinels.sentinelList,
    REDIS_SENTINEL_NAME: sentinels.name,
    REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    REDIS_STREAM_KEY: STREAM,
    REDIS_CURSOR_KEY: CURSOR,
    ...env,
  };
}

/** Runs the service to its exit; returns the error lines and the exit code. */
async function exitsWith(env: Record<string, string | undefined>): Promise<{ code: number | null; errors: LogLine[]; svc: ServiceProcess }> {
  const svc = await ServiceProcess.start({ env });
  const status = await svc.waitForExit(20_000);
  return { code: status.code, errors: svc.logs.filter((l) => l.level >= LEVEL.error), svc };
}

/** Exit 2, the first error line matching `re`; the relay was never asked. */
async function assertMisconfigured(env: Record<string, string | undefined>, re: RegExp): Promise<void> {
  const connections = relay.connections.length;
  const { code, errors, svc } = await exitsWith(env);
  assert.match(errors[0]?.msg ?? '', re, svc.tail());
  assert.equal(svc.find(/^writing to Redis at/).length, 0, 'no node was written');
  assert.equal(code, 2, svc.tail());
  assert.equal(relay.connections.length, connections, 'no relay connection');
}

test('Sentinel: a master name no sentinel knows exits 2', async () => {
  await assertMisconfigured(
    sentinelEnv({ REDIS_SENTINEL_NAME: 'nosuchmaster' }),
    /^no sentinel knows a master named "nosuchmaster": set REDIS_SENTINEL_NAME to the name in the sentinels' configuration \(sentinel monitor <name> \.\.\.\)$/,
  );
});

test('Sentinel: a sentinel that requires a password, given none or a wrong one, exits 2', async () => {
  const at = `127\\.0\\.0\\.1:${sentinels.sentinels[0]!.port}`;
  await assertMisconfigured(
    sentinelEnv({ REDIS_SENTINEL_PASSWORD: undefined }),
    new RegExp(`^sentinel at ${at} requires a password: set REDIS_SENTINEL_PASSWORD \\(and REDIS_SENTINEL_USERNAME\\) to what the sentinels require$`),
  );
  await assertMisconfigured(
    sentinelEnv({ REDIS_SENTINEL_PASSWORD: 'wrong' }),
    new RegExp(`^sentinel at ${at} refused the credentials \\(WRONGPASS [^)]*\\): set REDIS_SENTINEL_PASSWORD`),
  );
});

test('Sentinel: REDIS_URL naming a cluster node while REDIS_SENTINELS is set exits 2', async () => {
  await assertMisconfigured(
    sentinelEnv({ REDIS_URL: cluster.nodes[0]!.url }),
    /^REDIS_URL points at a Redis Cluster node, but REDIS_SENTINELS is set: Sentinel and Cluster do not mix; unset REDIS_SENTINELS for a cluster$/,
  );
});

test('Cluster: stream and cursor keys in different slots exit 2, suggesting hash tags', async () => {
  await assertMisconfigured(
    { RELAY_URL: relay.url, REDIS_URL: cluster.nodes[0]!.url, REDIS_STREAM_KEY: 'firehose:events', REDIS_CURSOR_KEY: 'firehose:python_cursor' },
    /^in a Redis Cluster the stream and cursor keys must share one slot \(firehose:events is in 2772, firehose:python_cursor in 6582\): give them a hash tag, e.g\. REDIS_STREAM_KEY=\{firehose\}:events REDIS_CURSOR_KEY=\{firehose\}:cursor$/,
  );
});

/** The redis-down warnings so far: each attempt numbered, delays within the backoff. */
function retries(svc: ServiceProcess, re: RegExp): LogLine[] {
  return svc.logs.filter((l) => l.level === LEVEL.warn && re.test(l.msg));
}

async function unhealthy(svc: ServiceProcess, re: RegExp): Promise<void> {
  const h = await svc.http('/healthz');
  assert.equal(h.status, 503, h.body);
  assert.ok(h.json().reasons.some((r: string) => re.test(r)), h.body);
}

test('Sentinel: no sentinel reachable is retried with backoff and shows in /healthz; writing starts once one answers', async () => {
  const sentinel = sentinels.sentinels[0]!;
  await sentinel.kill();
  const svc = await ServiceProcess.start({ env: sentinelEnv({ REDIS_RETRY_MIN_MS: '100', REDIS_RETRY_MAX_MS: '400' }) });
  const line = new RegExp(
    `^no sentinel could name the master "mymaster" \\(unreachable: 127\\.0\\.0\\.1:${sentinel.port}\\); check REDIS_SENTINELS; retrying in \\d+ ms \\(attempt \\d+\\)$`,
  );
  await until(() => retries(svc, line).length >= 3, 10_000, 'three attempts');
  const delays = retries(svc, line).map((l) => l.retryInMs as number);
  assert.ok(delays[0]! <= 100 && delays[2]! <= 400 && delays[2]! >= 200, `backoff: ${delays}`);
  await unhealthy(svc, /^redis: no sentinel could name the master "mymaster"/);
  assert.ok(svc.alive);
  await sentinel.restart();
  await until(async () => (await sentinels.client(sentinels.nodes[0]!.port).get(CURSOR)) === '50', 15_000, 'cursor 50').catch((e: Error) => {
    e.message += svc.tail();
    throw e;
  });
  await assertStreamHolds(sentinels.client(sentinels.nodes[0]!.port), Array.from({ length: 50 }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });
  assert.equal((await svc.http('/healthz')).status, 200);
});

test('Cluster: the keys\' slot assigned to no node is retried (a cluster being set up), shown in /healthz; writing starts once it is assigned', async () => {
  const slot = await cluster.slotOf(STREAM);
  const owner = await cluster.owner(slot);
  // Every node forgets the slot, as before `redis-cli --cluster create` or `fix` assigns it.
  await Promise.all(cluster.nodes.map((n) => cluster.client(n).call('CLUSTER', 'DELSLOTS', slot)));
  const svc = await ServiceProcess.start({
    env: { RELAY_URL: relay.url, REDIS_URL: cluster.nodes[0]!.url, REDIS_STREAM_KEY: STREAM, REDIS_CURSOR_KEY: CURSOR, REDIS_RETRY_MAX_MS: '400' },
  });
  const line = new RegExp(`^no node of the cluster serves slot ${slot} of \\{firehose\\}:events: assign it \\(redis-cli --cluster fix\\); retrying in \\d+ ms \\(attempt \\d+\\)$`);
  await until(() => retries(svc, line).length >= 3, 10_000, 'three attempts');
  await unhealthy(svc, new RegExp(`^redis: no node of the cluster serves slot ${slot}`));
  assert.ok(svc.alive);
  await cluster.client(owner).call('CLUSTER', 'ADDSLOTS', slot);
  await until(async () => (await cluster.client(owner).get(CURSOR)) === '50', 15_000, 'cursor 50').catch((e: Error) => {
    e.message += svc.tail();
    throw e;
  });
  await assertStreamHolds(cluster.client(owner), Array.from({ length: 50 }, (_, i) => i + 1), { streamKey: STREAM, cursorKey: CURSOR });
});
