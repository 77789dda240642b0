/**
 * What an operator reads: the lag when it is not known yet (no metric, not
 * a 0; "unknown" in /healthz), and pretty logs that show each event once.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, test } from 'node:test';
import { syntheticStream } from '../bench/corpus.js';
import { createLogger } from '../src/log.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer, freePort } from './support/redis.js';
import { ServiceProcess, stopAllServices, until } from './support/service-process.js';

const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await stopAllServices();
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

const lagLines = (metrics: string) => metrics.split('\n').filter((l) => l.includes('firehose_lag_seconds'));

test('lag unknown (Redis down from the start): no firehose_lag_seconds series, /healthz says "unknown"', async () => {
  const svc = await ServiceProcess.start({ env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } });
  await svc.waitForLog((l) => typeof l.attempt === 'number');
  const metrics = (await svc.http('/metrics')).body;
  assert.match(metrics, /^firehose_redis_up 0$/m, 'metrics are served');
  assert.deepEqual(lagLines(metrics), [], 'a lag that is not known must not read 0');
  const health = await svc.http('/healthz');
  assert.equal(health.status, 503);
  assert.equal(health.json().lagSeconds, 'unknown');
});

test('lag known once an event is written: the series appears; /healthz gives seconds', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, 20));
  cleanups.push(() => relay.close());
  const svc = await ServiceProcess.start({ env: { REDIS_URL: server.url, RELAY_URL: relay.url } });
  const lag = await until(async () => {
    const line = lagLines((await svc.http('/metrics')).body).find((l) => l.startsWith('firehose_lag_seconds '));
    return line && Number(line.split(' ')[1]);
  }, 10_000, 'firehose_lag_seconds');
  // The sample's events are from 2026-07-04: the lag is their age.
  const age = (Date.now() - Date.parse('2026-07-04T00:00:00Z')) / 1000;
  assert.ok(lag > age - 2 * 86_400 && lag < age + 86_400, `lag ${lag} s`);
  assert.equal(typeof (await svc.http('/healthz')).json().lagSeconds, 'number');
});

test('pretty logs: each event on one line, its message once, nothing repeated below it', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const log = createLogger('info', 'pretty', out);
  log.info({ events: 12, rate: 3, cursor: '42', lagSeconds: 0.4, nested: { a: [1, 2] } }, 'Processed 12 events (~3 events/sec, cursor: 42, lag: 0.4 s)');
  log.warn({ redis: 'redis://x:6379', attempt: 2, retryInMs: 100 }, 'Redis down; retrying in 100 ms (attempt 2)');
  log.error('plain');
  const lines = text.split('\n').filter(Boolean);
  assert.equal(lines.length, 3, text);
  assert.match(lines[0]!, /INFO.*Processed 12 events \(~3 events\/sec, cursor: 42, lag: 0\.4 s\)/);
  assert.match(lines[1]!, /WARN.*Redis down; retrying in 100 ms \(attempt 2\)/);
  assert.match(lines[2]!, /ERROR.*plain/);
  assert.doesNotMatch(text, /retryInMs|nested|firehose-redis\)/);
});

test('pretty logs of the service: every line is one event, and the starting line says what is in effect', async () => {
  const svc = await ServiceProcess.start({ env: { LOG_FORMAT: 'pretty', REDIS_URL: `redis://127.0.0.1:${await freePort()}`, HTTP_PORT: '0', SHUTDOWN_TIMEOUT_MS: '300' } });
  await until(() => (svc.stdout.match(/attempt 3\)/) ? true : false), 10_000, 'three attempts');
  svc.signal('SIGTERM');
  await svc.waitForExit(15_000);
  // eslint-disable-next-line no-control-regex
  const lines = svc.stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter(Boolean);
  const event = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR): \S/;
  assert.deepEqual(lines.filter((l) => !event.test(l)), [], 'lines that are not an event of their own');
  assert.match(lines[0]!, /firehose-redis starting: wss:\/\/bsky\.network into redis:\/\/127\.0\.0\.1:\d+, stream firehose:events \(cap 0, trim groups\), cursor key firehose:python_cursor, instance \S+, collections: all$/);
});
