/**
 * What `npm install firehose-redis` gives a user without a compiler: the
 * packed tarball, installed into an empty directory with a PATH that holds
 * node and sh and nothing else (no cc, g++, make or pkg-config), loads its
 * prebuilt addon without compiling and replays into Redis, over TLS too.
 * When no prebuild matches, the install step says so and compiles.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installTarball, nodeOnlyPath, pack, prebuild } from './support/package.js';
import type { RedisServer } from './support/redis.js';
import { TestCA } from './support/tls.js';

let tmp: string;
let bin: string;
let pkg: string;
let install: ReturnType<typeof installTarball>;
let ca: TestCA;
let tls: { redis: RedisServer; tlsPort: number };

before(async () => {
  prebuild(process.arch);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-pack-'));
  bin = nodeOnlyPath(tmp, process.execPath);
  const tarball = pack(tmp);
  install = installTarball(tarball, path.join(tmp, 'app'), bin);
  pkg = path.join(tmp, 'app', 'node_modules', 'firehose-redis');
  ca = TestCA.create();
  tls = await ca.redis();
});

after(async () => {
  await tls?.redis.stop();
  ca?.remove();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string>) {
  return spawnSync('node', [path.join(pkg, 'dist', 'src', 'cli.js'), ...args], {
    cwd: path.join(tmp, 'app'),
    env: { PATH: bin, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

test('installs without compiling: the prebuild for this platform is what loads', () => {
  assert.equal(install.status, 0, install.stderr);
  assert.doesNotMatch(install.stdout + install.stderr, /compiling/);
  assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'nothing was built');
  const resolved = spawnSync('node', ['-p', `require('node-gyp-build').path(${JSON.stringify(pkg)})`], {
    cwd: path.join(tmp, 'app'),
    env: { PATH: bin },
    encoding: 'utf8',
  }).stdout.trim();
  assert.equal(resolved, path.join(pkg, 'prebuilds', `linux-${process.arch}`, 'node.napi.glibc.node'));
});

test('the tarball holds the prebuilds and the sources to compile from, not the tests', () => {
  for (const f of ['binding.gyp', 'scripts/install.mjs', 'scripts/hiredis.mjs', 'native/core/sources.list', 'native/core/writer/core.cc', 'samples/jetstream-100.bin']) {
    assert.ok(fs.existsSync(path.join(pkg, f)), f);
  }
  for (const f of ['test', 'bench', 'deps', 'native/test', 'native/fuzz', 'dist/test']) assert.equal(fs.existsSync(path.join(pkg, f)), false, f);
});

test('replay writes the bundled sample into Redis', async () => {
  const r = cli(['replay'], { REDIS_URL: tls.redis.url });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote 100 entries from 100 frames/);
  // The bundled sample goes beside the live stream, never into it.
  assert.equal(await tls.redis.client().xlen('firehose:events:sample'), 100);
});

test('replay writes over rediss://', async () => {
  const r = cli(['replay', '--cursor-key', 'tls-cursor'], {
    REDIS_URL: `rediss://127.0.0.1:${tls.tlsPort}`,
    REDIS_TLS_CA_FILE: ca.file('ca.crt'),
    REDIS_STREAM_KEY: 'tls-events',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await tls.redis.client().xlen('tls-events:sample'), 100);
});

test('without a matching prebuild, the install step says so and compiles', () => {
  // LIBC=musl makes node-gyp-build look for a musl prebuild, of which there is none.
  const record = path.join(tmp, 'node-gyp-args');
  const fakeGyp = path.join(tmp, 'fake-node-gyp.js');
  fs.writeFileSync(fakeGyp, `require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify(process.argv.slice(2)))\n`);
  const r = spawnSync('node', ['scripts/install.mjs'], {
    cwd: pkg,
    env: { PATH: bin, LIBC: 'musl', npm_config_node_gyp: fakeGyp },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stderr,
    `firehose-redis: no prebuilt addon for linux-${process.arch} (musl); compiling the addon from source ` +
      '(needs a C++ compiler, make, python3 and libssl-dev; fetches hiredis from deb.debian.org)\n',
  );
  assert.deepEqual(JSON.parse(fs.readFileSync(record, 'utf8')), ['rebuild']);
});
