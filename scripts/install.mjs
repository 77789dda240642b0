#!/usr/bin/env node
// npm's install step: keep the prebuilt addon when one for this platform
// loads; otherwise compile it (hiredis included), and say why. npm shows
// this output when the step fails, or always with --foreground-scripts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// As node-gyp-build tells them apart.
const libc = process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
const platform = `${process.platform}-${process.arch}${process.platform === 'linux' ? ` (${libc})` : ''}`;

let why;
let file;
try {
  file = require('node-gyp-build').path(root);
} catch {
  why = `no prebuilt addon for ${platform}`;
}
if (file) {
  try {
    require(file);
    process.exit(0);
  } catch (e) {
    why = `${path.relative(root, file)} does not load on ${platform}: ${e.message.split('\n')[0]}`;
  }
}

process.stderr.write(
  `firehose-redis: ${why}; compiling the addon from source ` +
    '(needs a C++ compiler, make, python3 and libssl-dev; fetches hiredis from deb.debian.org)\n',
);
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`firehose-redis: compiling the addon failed${r.error ? `: ${r.error.message}` : ''}; see above\n`);
  process.exit(1);
}
