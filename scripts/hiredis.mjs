#!/usr/bin/env node
// Builds the hiredis the addon links statically: libhiredis.a and
// libhiredis_ssl.a (TLS, -fPIC), for one architecture, into
// deps/linux-<arch>/{include,lib} (git-ignored), and prints that directory.
// binding.gyp and native/Makefile call it; a finished build is reused.
//
//   node scripts/hiredis.mjs [x64|arm64]      default: this machine's
//
// The source is Debian's hiredis source package (upstream's tarball,
// unchanged), pinned by version and SHA-256: the Debian archive is reachable
// from every machine this project builds on. Its patch series (1.2.0-6) only
// touches install paths, CMake files and two tests, never the library, so
// nothing of it is applied. 1.2.0 is the newest hiredis there (trixie, forky
// and sid alike); the reply-nesting cap of 1.2.1 is not in it (see README,
// "Install").
//
// Another architecture is cross-compiled with Debian's <triplet>-gcc, or $CC
// and $AR when set; OpenSSL's headers come from libssl-dev (libssl-dev:arm64
// for arm64). Needs tar, make and a C compiler; fetches with Node's fetch().
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '1.2.0';
const TARBALL = `hiredis_${VERSION}.orig.tar.gz`;
const URL = `https://deb.debian.org/debian/pool/main/h/hiredis/${TARBALL}`;
const SHA256 = '82ad632d31ee05da13b537c124f819eb88e18851d9cb0c30ae0552084811588c';
const TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const HEADERS = ['hiredis.h', 'read.h', 'sds.h', 'alloc.h', 'hiredis_ssl.h'];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const deps = path.join(root, 'deps');

function fail(message) {
  process.stderr.write(`hiredis: ${message}\n`);
  process.exit(1);
}

const arch = process.argv[2] ?? process.arch;
if (arch !== process.arch && !TRIPLETS[arch]) fail(`cannot cross-compile for ${arch}: only ${Object.keys(TRIPLETS).join(', ')}`);
const prefix = path.join(deps, `linux-${arch}`);
const stamp = path.join(prefix, 'VERSION');

async function tarball() {
  const file = path.join(deps, TARBALL);
  if (!fs.existsSync(file)) {
    process.stderr.write(`hiredis: fetching ${URL}\n`);
    const res = await fetch(URL).catch((e) => fail(`cannot fetch ${URL}: ${e.cause?.message ?? e.message}`));
    if (!res.ok) fail(`cannot fetch ${URL}: HTTP ${res.status}`);
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, Buffer.from(await res.arrayBuffer()));
    fs.renameSync(tmp, file);
  }
  const sum = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  if (sum !== SHA256) {
    fs.rmSync(file);
    fail(`${TARBALL} has SHA-256 ${sum}, expected ${SHA256}: removed it; run again, and if it persists the download is not the pinned release`);
  }
  return file;
}

function build(file) {
  const cross = arch !== process.arch;
  const cc = process.env.CC ?? (cross ? `${TRIPLETS[arch]}-gcc` : 'cc');
  const ar = process.env.AR ?? (cross ? `${TRIPLETS[arch]}-ar` : 'ar');
  // Built next to its destination, then renamed into place, so that two
  // builds at once (node-gyp and make) never see half a library.
  const work = fs.mkdtempSync(path.join(deps, `.build-${arch}-`));
  try {
    execFileSync('tar', ['-xzf', file, '-C', work]);
    const src = path.join(work, `hiredis-${VERSION}`);
    const log = path.join(work, 'build.log');
    process.stderr.write(`hiredis: building ${VERSION} for linux-${arch} with ${cc}\n`);
    try {
      // Upstream's -Werror would turn a newer compiler's new warning into a
      // failed install; the library's own flags (-fPIC among them) stay.
      execFileSync('make', ['-C', src, `-j${Math.min(os.availableParallelism?.() ?? 2, 4)}`, 'static', 'USE_SSL=1',
        `CC=${cc}`, `AR=${ar}`, 'OPTIMIZATION=-O2', 'DEBUG_FLAGS=', 'WARNINGS=-Wall -Wextra -Wno-missing-field-initializers'],
      { stdio: ['ignore', fs.openSync(log, 'w'), fs.openSync(log, 'a')] });
    } catch {
      fail(`building with ${cc} failed (it needs make, ${cc} and OpenSSL's headers: libssl-dev${cross ? `:${arch === 'x64' ? 'amd64' : arch}` : ''}):\n` +
        fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n'));
    }
    const out = path.join(work, 'out');
    fs.mkdirSync(path.join(out, 'include'), { recursive: true });
    fs.mkdirSync(path.join(out, 'lib'));
    for (const h of HEADERS) fs.copyFileSync(path.join(src, h), path.join(out, 'include', h));
    for (const a of ['libhiredis.a', 'libhiredis_ssl.a']) fs.copyFileSync(path.join(src, a), path.join(out, 'lib', a));
    fs.writeFileSync(path.join(out, 'VERSION'), `${VERSION} ${SHA256} ${cc}\n`);
    if (!isBuilt()) fs.rmSync(prefix, { recursive: true, force: true });
    try {
      fs.renameSync(out, prefix);
    } catch (e) {
      if (!isBuilt()) throw e; // another build finished first
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function isBuilt() {
  return fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').startsWith(`${VERSION} ${SHA256} `);
}

if (!isBuilt()) {
  fs.mkdirSync(deps, { recursive: true });
  build(await tarball());
}
process.stdout.write(`${prefix}\n`);
