/**
 * Starting and stopping as a new user meets them: a busy HTTP_PORT, a
 * misspelt setting, `npm start` under a terminal or a supervisor, and a
 * shutdown while Redis is down with nothing left to write.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { syntheticStream } from '../bench/corpus.js';
import { SETTINGS } from '../src/config.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer, freePort } from './support/redis.js';
import { LEVEL, ServiceProcess, TEST_DEFAULTS, stopAllServices, until } from './support/service-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await stopAllServices();
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function redisServer(): Promise<RedisServer> {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  return server;
}

/** A REDIS_URL where nothing listens. */
async function deadRedisUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

test('a busy HTTP_PORT: the message, and exit code 2 within a second', async () => {
  const server = await redisServer();
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
  const port = (taken.address() as net.AddressInfo).port;
  const svc = await ServiceProcess.start({ env: { REDIS_URL: server.url, HTTP_PORT: String(port), RELAY_URL: 'ws://127.0.0.1:9' } });
  const starting = await svc.waitForMsg(/^firehose-redis starting/);
  const status = await svc.waitForExit(5000);
  const tookMs = Date.now() - starting.time;
  assert.deepEqual(status, { code: 2, signal: null }, svc.tail());
  assert.ok(tookMs < 1000, `exited ${tookMs} ms after starting`);
  assert.match(svc.stderr, new RegExp(`^firehose-redis: HTTP_PORT ${port} on 127\\.0\\.0\\.1 is unavailable \\(.*EADDRINUSE.*\\): choose another port, or 0 to turn HTTP off\\n$`));
});

test('misspelt settings are warned about at start, naming the setting meant; the service starts anyway', async () => {
  const server = await redisServer();
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, 50));
  cleanups.push(() => relay.close());
  const svc = await ServiceProcess.start({
    env: { REDIS_URL: server.url, RELAY_URL: relay.url, REDIS_URI: 'redis://elsewhere:6379', REDIS_STREAMKEY: 'mine', REDIS_PASSWORD: 'secret' },
  });
  await until(async () => (await server.client().get('firehose:python_cursor')) === '50', 10_000, 'cursor 50');
  const warned = (name: string) => {
    const lines = svc.logs.filter((l) => l.variable === name);
    assert.equal(lines.length, 1, `${name}: ${svc.tail()}`);
    assert.equal(lines[0]!.level, LEVEL.warn);
    return lines[0]!;
  };
  assert.deepEqual(warned('REDIS_URI').didYouMean, ['REDIS_URL']);
  assert.match(warned('REDIS_URI').msg, /^REDIS_URI is not a setting and is ignored: did you mean REDIS_URL\?$/);
  assert.deepEqual(warned('REDIS_STREAMKEY').didYouMean, ['REDIS_STREAM_KEY']);
  assert.match(warned('REDIS_PASSWORD').msg, /password .* go in REDIS_URL/);
  assert.doesNotMatch(JSON.stringify(svc.logs), /secret|elsewhere/, 'values are not logged');
  // What is in effect is in the starting line, and the typo changed nothing.
  const starting = (await svc.waitForMsg(/^firehose-redis starting/)).msg;
  assert.match(starting, new RegExp(`into redis://127\\.0\\.0\\.1:${server.port}, stream firehose:events `));
  assert.equal(await server.client().xlen('firehose:events'), 50);
  assert.ok(svc.alive);
});

/** `npm start` in the repository, in a process group of its own (like a terminal's job). */
async function npmStart(env: Record<string, string>) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SETTINGS.some((s) => s.name === k)));
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...inherited, ...TEST_DEFAULTS, HTTP_PORT: String(await freePort()), ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const msgs = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg as string);
  return { child, exit, msgs, out: () => out };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start: SIGTERM to npm (a supervisor) and Ctrl-C to the group (a terminal) both stop the service cleanly, exit 0', async () => {
  const server = await redisServer();
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, 100_000), { intervalMs: 2 });
  cleanups.push(() => relay.close());
  for (const [how, signal] of [['npm only', 'SIGTERM'], ['whole group', 'SIGINT']] as const) {
    const run = await npmStart({ REDIS_URL: server.url, RELAY_URL: relay.url });
    await until(() => run.msgs().some((m) => m.startsWith('connected to')), 20_000, `${how}: connected`);
    if (how === 'npm only') process.kill(run.child.pid!, signal);
    else process.kill(-run.child.pid!, signal);
    const status = await Promise.race([run.exit, new Promise((r) => setTimeout(() => r('timeout'), 8000))]);
    assert.deepEqual(status, { code: 0, signal: null }, `${how}: ${run.out().slice(-3000)}`);
    assert.ok(run.msgs().some((m) => m.startsWith(`shutting down (${signal})`)), `${how}: the service got the signal`);
    assert.ok(run.msgs().some((m) => m.startsWith('stopped cleanly')), `${how}: ${run.out().slice(-2000)}`);
    assert.ok(!run.msgs().some((m) => /exiting at once/.test(m)), `${how}: one Ctrl-C is one request`);
    await until(() => !groupAlive(run.child.pid!), 3000, `${how}: no process left behind`);
  }
});

test('npm start passes the exit code through: 2 for a bad setting', async () => {
  const run = await npmStart({ REDIS_MAX_STREAM_LEN: '-1' });
  const status = await run.exit;
  assert.deepEqual(status, { code: 2, signal: null }, run.out());
  assert.match(run.out(), /firehose-redis: REDIS_MAX_STREAM_LEN must be a whole number from 0/);
});

test('shutdown with nothing unwritten while Redis is down: exit 0, no error line, a clear message', async () => {
  const svc = await ServiceProcess.start({ env: { REDIS_URL: await deadRedisUrl(), SHUTDOWN_TIMEOUT_MS: '500' } });
  await svc.waitForLog((l) => l.level === LEVEL.warn && l.attempt === 2);
  svc.signal('SIGTERM');
  const status = await svc.waitForExit(5000);
  assert.deepEqual(status, { code: 0, signal: null }, svc.tail());
  assert.deepEqual(svc.logs.filter((l) => l.level >= LEVEL.error), []);
  const last = svc.find(/^stopped/);
  assert.equal(last.length, 1, svc.tail());
  assert.match(last[0]!.msg, /^stopped cleanly: nothing was left to write while Redis is unavailable \(.*Connection refused.*\); cursor none$/);
});

test('shutdown with nothing unwritten while Redis is down does not wait out SHUTDOWN_TIMEOUT_MS', async () => {
  const svc = await ServiceProcess.start({ env: { REDIS_URL: await deadRedisUrl(), SHUTDOWN_TIMEOUT_MS: '10000' } });
  await svc.waitForLog((l) => l.level === LEVEL.warn && l.attempt === 2);
  const t0 = Date.now();
  svc.signal('SIGTERM');
  const status = await svc.waitForExit(15_000);
  const took = Date.now() - t0;
  assert.deepEqual(status, { code: 0, signal: null }, svc.tail());
  assert.ok(took < 1500, `exit took ${took} ms of the 10000 allowed, with nothing to write`);
});
