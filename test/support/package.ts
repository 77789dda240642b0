/**
 * The package as users get it: the prebuilt addons of `npm run prebuilds`
 * (checked to be newer than the native sources, so a test never passes on a
 * stale binary), `npm pack`, and installing the tarball with a PATH that
 * has node and nothing else: no compiler, make or pkg-config.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** What a prebuild is made from. */
function newestSource(): number {
  const files = ['binding.gyp', 'scripts/hiredis.mjs', 'native/core/sources.list'];
  for (const dir of ['native', 'native/core']) {
    for (const f of fs.readdirSync(path.join(ROOT, dir))) if (/\.(cc|h)$/.test(f)) files.push(path.join(dir, f));
  }
  return Math.max(...files.map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs));
}

/** prebuilds/linux-<arch>/node.napi.glibc.node, which must exist and be up to date. */
export function prebuild(arch: string): string {
  const file = path.join(ROOT, 'prebuilds', `linux-${arch}`, 'node.napi.glibc.node');
  assert.ok(fs.existsSync(file), `${path.relative(ROOT, file)} is missing: run \`npm run prebuilds\` first`);
  assert.ok(fs.statSync(file).mtimeMs >= newestSource(), `${path.relative(ROOT, file)} is older than the native sources: run \`npm run prebuilds\``);
  return file;
}

/** `npm pack` of the repository (dist/src as built) into dir; the tarball's path. */
export function pack(dir: string): string {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  return path.join(dir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
}

/**
 * A directory holding only `node` (a link to `nodeBin`) and `sh` (which
 * npm runs scripts with), to be the whole PATH.
 */
export function nodeOnlyPath(dir: string, nodeBin: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(nodeBin, path.join(bin, 'node'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'pkg-config']) {
    const r = spawnSync(tool, ['--version'], { env: { PATH: bin } });
    assert.equal((r.error as NodeJS.ErrnoException | undefined)?.code, 'ENOENT', `${tool} is reachable with PATH=${bin}`);
  }
  return bin;
}

/**
 * `npm install <tarball>` into the empty directory `app`, with `bin` as
 * PATH. npm itself runs on `npmNode` (a command line, so that it can be
 * qemu + an arm64 node); install scripts run on PATH's `node`.
 */
export function installTarball(tarball: string, app: string, bin: string, npmNode: string[] = [process.execPath]): SpawnSyncReturns<string> {
  fs.mkdirSync(app, { recursive: true });
  const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js')
    ? process.env.npm_execpath
    : path.join(path.dirname(fs.realpathSync(process.execPath)), '../lib/node_modules/npm/bin/npm-cli.js');
  const [cmd, ...pre] = npmNode;
  // npm finds its global config (registry, CA file) next to the node that
  // runs it, which need not be the machine's own.
  const globalconfig = process.env.npm_config_globalconfig ?? execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim();
  return spawnSync(cmd!, [...pre, npmCli, 'install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], {
    cwd: app,
    env: { HOME: process.env.HOME!, PATH: bin, npm_config_globalconfig: globalconfig },
    encoding: 'utf8',
    timeout: 300_000,
  });
}
