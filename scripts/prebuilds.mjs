#!/usr/bin/env node
// `npm run prebuilds`: the addon for linux-x64 and linux-arm64 (glibc), each
// with hiredis linked in statically, stripped, in
// prebuilds/linux-<arch>/node.napi.glibc.node, where node-gyp-build (the
// loader and the install step) finds them. npm pack ships them.
//
//   node scripts/prebuilds.mjs [arch...]      default: x64 arm64
//
// The other architecture is cross-compiled with Debian's g++-<triplet>
// (and libssl-dev:<arch> for OpenSSL). Every build goes through ./build, so
// this machine's architecture is built last: build/Release is then the same
// addon as its prebuild, and loads here.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
// ELF e_machine of each, to check what was built.
const MACHINES = { x64: 0x3e, arm64: 0xb7 };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arches = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(TRIPLETS);
for (const a of arches) {
  if (!TRIPLETS[a]) {
    process.stderr.write(`prebuilds: unknown architecture ${a} (known: ${Object.keys(TRIPLETS).join(', ')})\n`);
    process.exit(2);
  }
}
arches.sort((a, b) => (a === process.arch) - (b === process.arch));

const gyp = process.env.npm_config_node_gyp ? [process.execPath, process.env.npm_config_node_gyp] : ['node-gyp'];
for (const arch of arches) {
  const cross = arch !== process.arch;
  const tool = (name) => (cross ? `${TRIPLETS[arch]}-${name}` : name);
  const env = { ...process.env };
  if (cross) Object.assign(env, { CC: tool('gcc'), CXX: tool('g++'), AR: tool('ar'), LINK: tool('g++') });
  const started = Date.now();
  process.stderr.write(`prebuilds: linux-${arch}${cross ? ` (cross, ${tool('g++')})` : ''}\n`);
  const r = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild', '--loglevel=warn', `--arch=${arch}`, '-j', String(os.availableParallelism?.() ?? 2)], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) {
    process.stderr.write(`prebuilds: node-gyp failed for linux-${arch}${r.error ? `: ${r.error.message}` : ''}\n`);
    process.exit(1);
  }
  const built = path.join(root, 'build', 'Release', 'firehose_redis.node');
  const machine = fs.readFileSync(built).readUInt16LE(18);
  if (machine !== MACHINES[arch]) {
    process.stderr.write(`prebuilds: ${built} is ELF machine 0x${machine.toString(16)}, not ${arch}\n`);
    process.exit(1);
  }
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'node.napi.glibc.node');
  execFileSync(tool('strip'), ['--strip-unneeded', '-o', out, built]);
  process.stderr.write(`prebuilds: ${path.relative(root, out)}, ${fs.statSync(out).size} bytes, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}
