#!/usr/bin/env node
// The Node.js binary that the npm registry publishes as node-linux-<arch>,
// pinned, unpacked once into deps/ (git-ignored); prints its path. CI runs
// the suite on it (Node 26 next to the machine's Node 20), and
// `npm run test:arm64` runs the arm64 one under qemu-user.
//
//   node scripts/node-binary.mjs [x64|arm64]      default: this machine's
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '26.12.1';

const arch = process.argv[2] ?? process.arch;
if (!['x64', 'arm64'].includes(arch)) {
  process.stderr.write(`node-binary: no node-linux-${arch} package: x64 or arm64\n`);
  process.exit(2);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'deps', `node-v${VERSION}-linux-${arch}`);
const node = path.join(dir, 'bin', 'node');
if (!fs.existsSync(node)) {
  const work = path.join(root, 'deps', `.node-${arch}-${process.pid}`);
  fs.mkdirSync(work, { recursive: true });
  try {
    process.stderr.write(`node-binary: npm pack node-linux-${arch}@${VERSION}\n`);
    const [{ filename }] = JSON.parse(
      execFileSync('npm', ['pack', '--json', `node-linux-${arch}@${VERSION}`], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    execFileSync('tar', ['-xzf', filename, '--strip-components=1', 'package/bin/node'], { cwd: work });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.renameSync(path.join(work, 'bin'), path.join(dir, 'bin'));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
process.stdout.write(`${node}\n`);
