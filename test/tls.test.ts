/**
 * rediss://: with a hiredis that has TLS (>= 1.0 with hiredis_ssl) the
 * writer speaks TLS and checks the server's certificate and name; without
 * it (Debian 12's hiredis 0.14) the service refuses rediss:// at start with
 * a message that says what to do. Whichever this build is, its behaviour is
 * asserted.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createIngester } from '../src/ingester.js';
import { addon } from '../src/native.js';
import { FirehoseError } from '../src/errors.js';
import { readFrames } from './support/fixtures.js';
import { freePort, RedisServer } from './support/redis.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.js');

describe('rediss://', () => {
  let dir: string;
  let redis: RedisServer;
  let tlsPort: number;

  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-tls-'));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=other');
    tlsPort = await freePort();
    redis = await RedisServer.start({
      // 127.0.0.2 too: a loopback address the certificate does not name.
      args: ['--bind', '127.0.0.1', '127.0.0.2', '--tls-port', String(tlsPort), '--tls-cert-file', path.join(dir, 'server.crt'), '--tls-key-file', path.join(dir, 'server.key'),
        '--tls-ca-cert-file', path.join(dir, 'ca.crt'), '--tls-auth-clients', 'no'],
    });
  });

  after(async () => {
    await redis?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('writes every entry over TLS when the CA is trusted', async () => {
    const frames = readFrames('pds-capture', 'frames.bin');
    const ing = createIngester({ redisUrl: `rediss://127.0.0.1:${tlsPort}`, redisTlsCaFile: path.join(dir, 'ca.crt'), dashboardStatus: false });
    assert.equal(await ing.cursor(), null);
    for (const f of frames) ing.push(f.bytes);
    assert.deepEqual(await ing.close(5000), { flushed: true, pendingFrames: 0 });
    const c = redis.client();
    assert.equal(await c.xlen('firehose:events'), 295);
    assert.equal(await c.get('firehose:python_cursor'), '305');
  });

  for (const [name, url, ca, reason] of [
    ['an untrusted CA', () => `rediss://127.0.0.1:${tlsPort}`, 'other.crt', /not trusted \(self.signed certificate/],
    ['a host the certificate was not issued for', () => `rediss://127.0.0.2:${tlsPort}`, 'ca.crt', /not trusted \(IP address mismatch\)/],
  ] as const) {
    test(`stops with a clear fatal error for ${name}`, async () => {
      const ing = createIngester({ redisUrl: url(), redisTlsCaFile: path.join(dir, ca), dashboardStatus: false });
      const fatal = new Promise<FirehoseError>((resolve) => ing.on('fatal', resolve));
      let retries = 0;
      ing.on('redis-down', () => retries++);
      const err = await fatal;
      assert.match(err.message, reason);
      assert.match(err.message, /REDIS_TLS_CA_FILE/);
      assert.equal(retries, 0, 'a certificate problem is not retried');
      await ing.close(1000);
    });
  }
});
