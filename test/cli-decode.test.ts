/**
 * `firehose-redis decode <capture>` as a user runs it: a child process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDecoder } from '../src/decoder.js';
import { fixture, readFrames } from './support/fixtures.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function decode(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'decode', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  return { status: r.status, lines, stderr: r.stderr };
}

/** The capture layout: each frame after its length, a u32 little-endian. */
function writeCapture(name: string, frames: Uint8Array[]): string {
  const file = path.join(tmp, name);
  const parts = frames.flatMap((f) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(f.length);
    return [len, f];
  });
  fs.writeFileSync(file, Buffer.concat(parts));
  return file;
}

test('one line per entry, with the entry data byte for byte', () => {
  const capture = fixture('pds-capture/frames.bin');
  const { status, lines, stderr } = decode(capture);
  assert.equal(status, 0);
  const decoder = createDecoder();
  const want = readFrames('pds-capture/frames.bin')
    .map((f) => decoder.decode(f.bytes))
    .flatMap((r) => (r.kind === 'entry' ? [`{"type":"${r.type}","seq":${r.seq},"data":${r.data}}`] : []));
  assert.equal(lines.length, 295);
  assert.deepEqual(lines, want);
  const first = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(first), ['type', 'seq', 'data']);
  assert.equal(typeof first.data, 'object');
  assert.match(stderr, /^decoded 305 frames: 295 entries \(\d+ identity, \d+ account, 269 commit\), 10 without an entry, 0 failed; 0 ops left out\n$/);
});

test('--all adds the frames that make no entry', () => {
  const { status, lines } = decode(fixture('pds-capture/frames.bin'), '--all');
  assert.equal(status, 0);
  assert.equal(lines.length, 305);
  const silent = lines.map((l) => JSON.parse(l)).filter((l) => !('type' in l));
  assert.equal(silent.length, 10);
  for (const s of silent) assert.deepEqual(Object.keys(s), ['frame', 'reason', 'seq']);
  assert.ok(silent.every((s) => s.frame === '#sync' && s.reason === 'sync' && Number.isInteger(s.seq)));
});

test('a corrupt frame is reported and skipped; the exit code stays 0', () => {
  const [a, b] = readFrames('jetstream-corpus/frames.bin');
  const file = writeCapture('corrupt.bin', [a!.bytes, Buffer.from([0xa1, 0x61, 0x74]), b!.bytes]);
  const plain = decode(file);
  assert.equal(plain.status, 0);
  assert.equal(plain.lines.length, 2);
  assert.match(plain.stderr, new RegExp(`^frame 1 \\(offset ${a!.bytes.length + 4}, 3 bytes\\): header: .*end of input`, 'm'));
  assert.match(plain.stderr, /decoded 3 frames: 2 entries \(2 commit\), 0 without an entry, 1 failed; 0 ops left out/);

  const all = decode(file, '--all');
  assert.equal(all.status, 0);
  const failed = JSON.parse(all.lines[1]!);
  assert.deepEqual(Object.keys(failed), ['index', 'offset', 'error']);
  assert.equal(failed.index, 1);
  assert.equal(failed.offset, a!.bytes.length + 4);
  assert.match(failed.error, /^header: .*end of input/);
});

test('a missing capture is a clear error with a non-zero exit code', () => {
  const file = path.join(tmp, 'nope.bin');
  const r = decode(file);
  assert.notEqual(r.status, 0);
  assert.deepEqual(r.lines, []);
  assert.equal(r.stderr, `firehose-redis: cannot read capture ${file}: no such file\n`);
});

test('a truncated capture is a clear error with a non-zero exit code', () => {
  const whole = fs.readFileSync(fixture('jetstream-corpus/frames.bin'));
  const file = path.join(tmp, 'truncated.bin');
  fs.writeFileSync(file, whole.subarray(0, 1000));
  const r = decode(file);
  assert.notEqual(r.status, 0);
  assert.deepEqual(r.lines, []);
  assert.match(r.stderr, /^firehose-redis: .*truncated\.bin is truncated: frame 0 at offset 0 claims 6881 bytes but only 996 remain\n$/);
});
