/**
 * rediss:// end to end, against redis-server's TLS port and a throwaway CA
 * made here with the openssl CLI: a verified certificate writes; a wrong
 * host name, an untrusted CA or a missing client certificate stop the
 * writer at once (no retry can fix them) with the setting to change; a
 * server that requires a client certificate accepts REDIS_TLS_CERT_FILE /
 * REDIS_TLS_KEY_FILE; plain redis:// at a TLS port is recognised instead of
 * being retried for ever.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createIngester, type IngesterOptions } from '../src/ingester.js';
import { FirehoseError } from '../src/errors.js';
import { readFrames } from './support/fixtures.js';
import { freePort, type RedisServer } from './support/redis.js';
import { TestCA } from './support/tls.js';
import { CLI, ServiceProcess, stopAllServices } from './support/service-process.js';

let ca: TestCA;
/** TLS port of a server that asks for no client certificate, and of one that requires it. */
let open: { redis: RedisServer; tlsPort: number };
let mutual: { redis: RedisServer; tlsPort: number };
const file = (name: string) => ca.file(name);

/** Waits for the ingester's fatal error, counting the retries before it. */
async function fatalOf(opts: Partial<IngesterOptions>): Promise<{ error: FirehoseError; retries: number }> {
  const ing = createIngester({ dashboardStatus: false, redisConnectTimeoutMs: 2000, ...opts });
  let retries = 0;
  ing.on('redis-down', () => retries++);
  const error = await new Promise<FirehoseError>((resolve) => ing.on('fatal', resolve));
  await ing.close(1000);
  return { error, retries };
}

before(async () => {
  ca = TestCA.create();
  [open, mutual] = await Promise.all([ca.redis('no'), ca.redis('yes')]);
});

after(async () => {
  await stopAllServices();
  await Promise.all([open?.redis.stop(), mutual?.redis.stop()]);
  ca?.remove();
});

describe('rediss://', () => {
  test('writes every entry over TLS when the CA is trusted', async () => {
    const frames = readFrames('pds-capture', 'frames.bin');
    const ing = createIngester({ redisUrl: `rediss://127.0.0.1:${open.tlsPort}`, redisTlsCaFile: file('ca.crt'), dashboardStatus: false });
    assert.equal(await ing.cursor(), null);
    for (const f of frames) ing.push(f.bytes);
    assert.deepEqual(await ing.close(5000), { flushed: true, pendingFrames: 0 });
    const c = open.redis.client();
    assert.equal(await c.xlen('firehose:events'), 295);
    assert.equal(await c.get('firehose:python_cursor'), '305');
  });

  test("without REDIS_TLS_CA_FILE, trusts the system's CAs (here SSL_CERT_FILE stands in for them)", () => {
    const r = spawnSync(process.execPath, [CLI, 'replay'], {
      env: { ...process.env, REDIS_URL: `rediss://localhost:${open.tlsPort}`, SSL_CERT_FILE: file('ca.crt'), REDIS_STREAM_KEY: 'system-ca' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /wrote 100 entries/);
  });

  for (const [name, url, ca, reason] of [
    ['an untrusted CA', () => `rediss://127.0.0.1:${open.tlsPort}`, 'other.crt', /not trusted \(self.signed certificate/],
    ['a host the certificate was not issued for', () => `rediss://127.0.0.2:${open.tlsPort}`, 'ca.crt', /not trusted \(IP address mismatch\)/],
  ] as const) {
    test(`${name} stops the writer at once, naming REDIS_TLS_CA_FILE`, async () => {
      const { error, retries } = await fatalOf({ redisUrl: url(), redisTlsCaFile: file(ca) });
      assert.match(error.message, reason);
      assert.match(error.message, /set REDIS_TLS_CA_FILE to the CA that signed it/);
      assert.equal(retries, 0, 'a certificate problem is not retried');
    });
  }

  test('the service exits 1 at once on an untrusted certificate, with the setting to change', async () => {
    const svc = await ServiceProcess.start({
      env: { REDIS_URL: `rediss://127.0.0.1:${open.tlsPort}`, REDIS_TLS_CA_FILE: file('other.crt'), REDIS_CONNECT_TIMEOUT_MS: '2000', RELAY_URL: `ws://127.0.0.1:${await freePort()}` },
    });
    const status = await svc.exit;
    assert.equal(status.code, 1);
    assert.ok(Date.now() - svc.startedAt < 5000, 'no retries before giving up');
    const err = svc.logs.find((l) => l.level >= 50);
    assert.match(err?.msg ?? '', /is not trusted .*REDIS_TLS_CA_FILE/);
    assert.equal(svc.logs.filter((l) => /retrying|unavailable/i.test(l.msg)).length, 0, svc.stdout);
  });

  test('a server that requires a client certificate accepts REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE', async () => {
    const frames = readFrames('pds-capture', 'frames.bin').slice(0, 20);
    const ing = createIngester({
      redisUrl: `rediss://localhost:${mutual.tlsPort}`,
      redisTlsCaFile: file('ca.crt'),
      redisTlsCertFile: file('client.crt'),
      redisTlsKeyFile: file('client.key'),
      dashboardStatus: false,
    });
    assert.equal(await ing.cursor(), null);
    for (const f of frames) ing.push(f.bytes);
    assert.deepEqual(await ing.close(5000), { flushed: true, pendingFrames: 0 });
    assert.ok((await mutual.redis.client().xlen('firehose:events')) > 0);
  });

  for (const [name, cert] of [['no client certificate', undefined], ['a client certificate from another CA', 'other']] as const) {
    test(`${name}, where one is required, stops the writer at once, naming REDIS_TLS_CERT_FILE`, async () => {
      const { error, retries } = await fatalOf({
        redisUrl: `rediss://127.0.0.1:${mutual.tlsPort}`,
        redisTlsCaFile: file('ca.crt'),
        ...(cert ? { redisTlsCertFile: file(`${cert}.crt`), redisTlsKeyFile: file(`${cert}.key`) } : {}),
      });
      assert.match(error.message, /refused the TLS client certificate \(.+\): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE/);
      assert.equal(retries, 0);
    });
  }
});

describe('redis:// at a TLS port', () => {
  test('is recognised and not retried', async () => {
    const { error, retries } = await fatalOf({ redisUrl: `redis://127.0.0.1:${open.tlsPort}` });
    assert.match(error.message, /this port speaks TLS: use rediss:\/\//);
    assert.equal(retries, 0);
  });

  test('a one-shot replay ends with exit 1 and says so', () => {
    const r = spawnSync(process.execPath, [CLI, 'replay'], {
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${open.tlsPort}` },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), /^firehose-redis: Redis at 127\.0\.0\.1:\d+\/0: this port speaks TLS: use rediss:\/\/ in REDIS_URL$/);
  });

});
