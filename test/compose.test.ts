/**
 * docker-compose.yml, without Docker: its Redis command runs in a real
 * redis-server (so every flag is valid and in effect), its memory limit is
 * checked against the size of real entries at the default stream cap, HTTP
 * is published on loopback only, and its password and TLS examples are
 * complete (the TLS one is run too).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { syntheticStream } from '../bench/corpus.js';
import { createIngester } from '../src/ingester.js';
import { readFrames } from './support/fixtures.js';
import { freePort } from './support/redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
/** Room above the measured need: consumer pending lists, trimming slack, small keys. */
const HEADROOM = 1.25;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-compose-'));
const servers: Array<ReturnType<typeof spawn>> = [];
after(() => {
  for (const s of servers) s.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The lines of a service's block. */
function service(name: string): string[] {
  const lines = COMPOSE.split('\n');
  const start = lines.indexOf(`  ${name}:`);
  assert.ok(start >= 0, `no service ${name}`);
  const end = lines.findIndex((l, i) => i > start && /^ {0,2}\S/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The items of a block sequence `key:` inside a service; commented items too when asked. */
function sequence(lines: string[], key: string, commented = false): string[] {
  const at = lines.findIndex((l) => new RegExp(`^\\s+${commented ? '(# )?' : ''}${key}:\\s*$`).test(l));
  assert.ok(at >= 0, `no ${key}:`);
  const items: string[] = [];
  for (const l of lines.slice(at + 1)) {
    const m = (commented ? /^\s+(?:# )?- (.*)$/ : /^\s+- (.*)$/).exec(l);
    if (m) items.push(m[1]!.replace(/^"(.*)"$/, '$1'));
    else if (!/^\s+#/.test(l)) break;
  }
  return items;
}

function environment(lines: string[]): Record<string, string> {
  const at = lines.findIndex((l) => /^\s+environment:\s*$/.test(l));
  const env: Record<string, string> = {};
  for (const l of lines.slice(at + 1)) {
    if (/^\s+#/.test(l)) continue;
    const m = /^ {6}([A-Z_]+): (.*)$/.exec(l);
    if (!m) break;
    env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

async function redisServer(args: string[]): Promise<{ port: number; client: Redis }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(tmp, 'redis-'));
  const proc = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' });
  servers.push(proc);
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      return { port, client };
    } catch (e) {
      client.disconnect();
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server ${args.join(' ')} did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Bytes one stream entry takes in Redis, over 10,000 entries made from a fixture's real frames. */
async function bytesPerEntry(port: number, fixture: string): Promise<number> {
  const key = `measure:${fixture}`;
  const ing = createIngester({ redisUrl: `redis://127.0.0.1:${port}`, streamKey: key, cursorKey: `${key}:cursor`, maxStreamLen: 0, dashboardStatus: false });
  await ing.cursor();
  for (const f of syntheticStream(readFrames(fixture, 'frames.bin').map((x) => x.bytes), 10_000)) {
    if (ing.push(f.bytes) === false) await new Promise<void>((resolve) => ing.once('drain', () => resolve()));
  }
  assert.equal((await ing.close()).pendingFrames, 0);
  const client = new Redis({ port, host: '127.0.0.1' });
  try {
    const usage = Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    return usage / (await client.xlen(key));
  } finally {
    client.disconnect();
  }
}

const redisCommand = sequence(service('redis'), 'command');

test('the Redis command runs: memory limit, noeviction and the durability settings are in effect', async () => {
  assert.equal(redisCommand[0], 'redis-server');
  const { port, client } = await redisServer(redisCommand.slice(1));
  try {
    const get = async (name: string) => ((await client.config('GET', name)) as string[])[1];
    assert.equal(await get('maxmemory-policy'), 'noeviction', 'evicting would drop the stream or the cursor silently');
    assert.equal(await get('appendonly'), 'yes');
    assert.equal(await get('appendfsync'), 'everysec');
    assert.equal(await get('aof-load-truncated'), 'yes');

    const cap = Number(environment(service('firehose-redis')).REDIS_MAX_STREAM_LEN);
    assert.equal(cap, 500_000, 'the default cap');
    const perEntry = Math.max(await bytesPerEntry(port, 'jetstream-corpus'), await bytesPerEntry(port, 'pds-capture'));
    const need = cap * perEntry * HEADROOM;
    const maxmemory = Number(await get('maxmemory'));
    assert.ok(maxmemory >= need, `maxmemory ${maxmemory} < ${Math.round(need)}: ${cap} entries of ${Math.round(perEntry)} bytes, with ${HEADROOM}x headroom`);
    assert.ok(maxmemory <= 4 * need, `maxmemory ${maxmemory} is far above the need (${Math.round(need)})`);
  } finally {
    client.disconnect();
  }
});

test('HTTP is published on loopback only, with a comment on exposing it', () => {
  const lines = service('firehose-redis');
  const ports = sequence(lines, 'ports');
  assert.ok(ports.length > 0);
  for (const p of ports) assert.match(p, /^127\.0\.0\.1:\d+:8080$/, `"${p}" is reachable from other machines`);
  assert.match(lines.join('\n'), /# .*publish "8080:8080"/);
  assert.ok(!service('redis').some((l) => /^\s+ports:/.test(l)), 'Redis is not published');
});

test('the password example: where it goes in Redis and in REDIS_URL', () => {
  const redis = sequence(service('redis'), 'command', true);
  const i = redis.indexOf('--requirepass');
  assert.ok(i > 0, 'a commented --requirepass');
  assert.equal(redis[i + 1], '${REDIS_PASSWORD}');
  assert.match(service('firehose-redis').join('\n'), /# REDIS_URL: redis:\/\/:\$\{REDIS_PASSWORD\}@redis:6379/);
});

test('the TLS example: redis-server accepts its flags and serves TLS; the service side names rediss:// and the CA', async () => {
  const commented = sequence(service('redis'), 'command', true);
  const tls = commented.slice(commented.indexOf('--port'));
  for (const flag of ['--tls-port', '--tls-cert-file', '--tls-key-file', '--tls-ca-cert-file']) assert.ok(tls.includes(flag), flag);
  assert.match(service('firehose-redis').join('\n'), /# REDIS_URL: rediss:\/\/redis:6379\n\s+# REDIS_TLS_CA_FILE: \/certs\/ca\.crt/);

  // The certificates the example mounts at /certs, made here.
  const certs = fs.mkdtempSync(path.join(tmp, 'certs-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(certs, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'redis.crt', '-days', '1', '-extfile', 'ext.cnf');
  const tlsPort = await freePort();
  const args = tls.map((a) => a.replace(/^\/certs\//, `${certs}/`)).map((a, i, all) => (all[i - 1] === '--tls-port' ? String(tlsPort) : a));
  assert.deepEqual(args.slice(0, 2), ['--port', '0'], 'TLS only, no plain port');
  const dir = fs.mkdtempSync(path.join(tmp, 'redis-tls-'));
  servers.push(spawn('redis-server', [...args, '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' }));
  const ping = () =>
    execFileSync('redis-cli', ['--tls', '--cacert', path.join(certs, 'ca.crt'), '-h', '127.0.0.1', '-p', String(tlsPort), 'PING'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const deadline = Date.now() + 10_000;
  let answer = '';
  while (Date.now() < deadline && answer !== 'PONG') {
    try {
      answer = ping();
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.equal(answer, 'PONG', 'redis-server serves TLS with the example\'s flags');
});
