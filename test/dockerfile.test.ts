/**
 * Docker cannot run here, so this test runs what the Dockerfile's runtime
 * stage would contain: it copies exactly the paths its COPY lines name
 * (production dependencies only, as `npm prune --omit=dev` leaves them, and
 * only this platform's prebuild, as the build stage keeps) into an empty
 * directory, then starts the ENTRYPOINT from there against a real Redis (over
 * TLS too) and a relay, and runs the HEALTHCHECK command. It also checks that
 * the runtime image installs every shared library the prebuild needs, and no
 * compiler or -dev package.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { prebuild, ROOT } from './support/package.js';
import { freePort, type RedisServer } from './support/redis.js';
import { TestCA } from './support/tls.js';

const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages[stages.length - 1]!;
const PREBUILD = `prebuilds/linux-${process.arch}/node.napi.glibc.node`;

function jsonArray(instruction: string): string[] {
  const m = new RegExp(`^${instruction}\\s+(?:.*?\\s)?(\\[.*\\])\\s*$`, 'm').exec(runtime);
  assert.ok(m, `runtime stage has no ${instruction} in exec form`);
  return JSON.parse(m[1]!) as string[];
}

/** The packages a stage's `apt-get install` lines name. */
function aptPackages(stage: string): string[] {
  return [...stage.matchAll(/apt-get install ([^&\n]*)/g)].flatMap((m) => m[1]!.split(/\s+/).filter((w) => w && !w.startsWith('-')));
}

let image: string;
let redis: RedisServer;
let tlsPort: number;
let ca: TestCA;
let relay: FakeRelay;

before(async () => {
  image = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-image-'));
  const workdir = /^WORKDIR\s+(\S+)/m.exec(runtime)![1]!;
  for (const m of runtime.matchAll(/^COPY\s+(--from=\S+\s+)?(\S+)\s+(\S+)\s*$/gm)) {
    const fromBuild = Boolean(m[1]);
    // The build stage's WORKDIR is the repository root after `npm ci && tsc`.
    const src = fromBuild ? path.join(ROOT, path.relative(workdir, m[2]!)) : path.join(ROOT, m[2]!);
    const dst = path.join(image, path.relative(workdir, path.resolve(workdir, m[3]!)));
    if (path.basename(src) === 'prebuilds') {
      fs.mkdirSync(dst, { recursive: true });
      fs.cpSync(path.dirname(prebuild(process.arch)), path.join(dst, `linux-${process.arch}`), { recursive: true });
    } else if (path.basename(src) === 'node_modules') {
      // Only what `npm prune --omit=dev` keeps.
      const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter((p) => p.includes(`${path.sep}node_modules${path.sep}`));
      for (const p of prod) fs.cpSync(p, path.join(dst, path.relative(src, p)), { recursive: true });
    } else {
      fs.cpSync(src, dst, { recursive: true });
    }
  }
  ca = TestCA.create();
  ({ redis, tlsPort } = await ca.redis());
  relay = await FakeRelay.start(readFrames('pds-capture', 'frames.bin').map((f, i) => ({ seq: i + 1, bytes: f.bytes })));
});

after(async () => {
  await relay?.close();
  await redis?.stop();
  ca?.remove();
  if (image) fs.rmSync(image, { recursive: true, force: true });
});

test('both stages are Node 26 on Debian 13 slim, the same image', () => {
  const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
  assert.equal(bases.length, 2);
  assert.equal(bases[0], bases[1]);
  assert.match(bases[0]!, /^node:26-trixie-slim(@sha256:[0-9a-f]{64})?$/);
});

test('the runtime stage installs what the prebuild links, and no compiler or -dev package', () => {
  const packages = aptPackages(runtime);
  assert.deepEqual(packages.filter((p) => /-dev$|^(g\+\+|gcc|cpp|clang|make|python3|pkg-config)(-\d+)?$/.test(p)), []);
  const needed = [...execFileSync('readelf', ['-d', path.join(image, PREBUILD)], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]!);
  // node:*-slim has the C and C++ runtimes; hiredis is linked in statically.
  const fromPackage: Record<string, string> = { 'libssl.so.3': 'libssl3t64', 'libcrypto.so.3': 'libssl3t64' };
  for (const lib of needed) {
    if (/^(libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|ld-linux)/.test(lib)) continue;
    assert.ok(fromPackage[lib], `the prebuild needs ${lib}, which no runtime package is known to provide`);
    assert.ok(packages.includes(fromPackage[lib]), `runtime must install ${fromPackage[lib]} for ${lib}`);
  }
  assert.ok(needed.includes('libssl.so.3'), 'TLS comes from the system OpenSSL');
  assert.ok(packages.includes('ca-certificates'), 'rediss:// trusts the system CAs by default');
});

test('the image loads the prebuilt addon', () => {
  const r = spawnSync(process.execPath, ['-p', "require('node-gyp-build').path('.')"], { cwd: image, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), path.join(image, PREBUILD));
});

test('the image runs the CLI from its own files', () => {
  const [cmd, ...args] = jsonArray('ENTRYPOINT');
  assert.equal(cmd, 'node');
  const r = spawnSync(process.execPath, [...args, '--help'], { cwd: image, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /firehose-redis: the AT Protocol firehose into Redis Streams/);
});

test('the image replays its bundled sample into Redis', () => {
  const [, ...args] = jsonArray('ENTRYPOINT');
  const r = spawnSync(process.execPath, [...args, 'replay'], {
    cwd: image,
    env: { ...process.env, REDIS_URL: redis.url },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote 100 entries from 100 frames/);
});

test('the image replays over rediss://', async () => {
  const [, ...args] = jsonArray('ENTRYPOINT');
  const r = spawnSync(process.execPath, [...args, 'replay'], {
    cwd: image,
    env: { ...process.env, REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, REDIS_TLS_CA_FILE: ca.file('ca.crt'), REDIS_STREAM_KEY: 'tls-events' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await redis.client().xlen('tls-events:sample'), 100);
});

test('the image serves the relay into Redis and its HEALTHCHECK passes', async () => {
  const [, ...entry] = jsonArray('ENTRYPOINT');
  const cmd = jsonArray('CMD');
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const kv of m[1]!.trim().split(/\s+/)) {
      const [k, v] = kv.split('=');
      env[k!] = v!;
    }
  }
  await redis.client().flushall();
  const port = await freePort();
  const child = spawn(process.execPath, [...entry, ...cmd], {
    cwd: image,
    env: { ...process.env, ...env, HTTP_PORT: String(port), REDIS_URL: redis.url, RELAY_URL: relay.url },
    stdio: 'ignore',
  });
  try {
    const client = redis.client();
    const deadline = Date.now() + 20_000;
    while ((await client.xlen('firehose:events')) < 295 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await client.xlen('firehose:events'), 295);
    const health = /^HEALTHCHECK\s.*?CMD\s+(\[.*\])\s*$/m.exec(runtime);
    assert.ok(health, 'runtime stage has a HEALTHCHECK in exec form');
    const [hcmd, ...hargs] = JSON.parse(health[1]!) as string[];
    assert.equal(hcmd, 'node');
    const hc = spawnSync(process.execPath, hargs, { env: { ...process.env, HTTP_PORT: String(port) }, timeout: 10_000 });
    assert.equal(hc.status, 0, 'HEALTHCHECK passes while the relay and Redis are fine');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const hc = spawnSync(process.execPath, JSON.parse(/^HEALTHCHECK\s.*?CMD\s+(\[.*\])\s*$/m.exec(runtime)![1]!).slice(1), {
    env: { ...process.env, HTTP_PORT: String(port) },
    timeout: 10_000,
  });
  assert.equal(hc.status, 1, 'HEALTHCHECK fails when nothing answers');
});
