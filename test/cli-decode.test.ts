/**
 * `firehose-redis decode <capture>` as a user runs it: a child process. Its
 * output comes from the addon (printCapture); it must equal, byte for byte,
 * the frame-by-frame TypeScript formatting of src/commands/decode.ts, fed by
 * the native decoder (the output before printCapture existed) and by the
 * TypeScript reference decoder (--reference).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runDecode } from '../src/commands/decode.js';
import { createDecoder } from '../src/decoder.js';
import { referenceDecodeFrame } from '../src/reference-decoder.js';
import { FIXTURES, fixture, readFrames } from './support/fixtures.js';
import { handBuiltCases, indigoCases } from './support/synthetic.js';

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

test('a truncated capture prints every complete frame, the summary, then one error line; exit 1', () => {
  const whole = fs.readFileSync(fixture('jetstream-corpus/frames.bin'));
  const frames = readFrames('jetstream-corpus/frames.bin');
  // Cut inside frame 18.
  const cut = frames[18]!.offset + 300;
  const file = path.join(tmp, 'truncated.bin');
  fs.writeFileSync(file, whole.subarray(0, cut));
  const full = decode(fixture('jetstream-corpus/frames.bin'));
  for (const args of [[file], [file, '--reference']]) {
    const r = decode(...args);
    assert.equal(r.status, 1);
    assert.deepEqual(r.lines, full.lines.slice(0, 18));
    assert.equal(
      r.stderr,
      'decoded 18 frames: 18 entries (18 commit), 0 without an entry, 0 failed; 0 ops left out\n' +
        `firehose-redis: ${file} is truncated: frame 18 at offset ${frames[18]!.offset} claims ${frames[18]!.bytes.length} bytes but only 296 remain\n`,
    );
  }
});

const SAMPLES = fileURLToPath(new URL('../../samples', import.meta.url));

/** Every capture the repository holds. */
function captureFixtures(): string[] {
  const inFixtures = (fs.readdirSync(FIXTURES, { recursive: true }) as string[])
    .filter((f) => path.basename(f) === 'frames.bin')
    .map((f) => path.join(FIXTURES, f));
  const samples = fs.readdirSync(SAMPLES).filter((f) => f.endsWith('.bin')).map((f) => path.join(SAMPLES, f));
  return [...inFixtures, ...samples].sort();
}

/** The CLI with stdout and stderr written to files, as the benchmark runs it. */
function decodeToFiles(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const name = path.join(tmp, `out-${Math.random().toString(36).slice(2)}`);
  const out = fs.openSync(`${name}.out`, 'w');
  const err = fs.openSync(`${name}.err`, 'w');
  const child = spawn(process.execPath, [CLI, 'decode', ...args], { stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (status) =>
      resolve({ status, stdout: fs.readFileSync(`${name}.out`, 'utf8'), stderr: fs.readFileSync(`${name}.err`, 'utf8') }),
    );
  });
}

/** runDecode in this process, with streams that have no descriptor: the frame-by-frame path. */
function decodeFrameByFrame(file: string, all: boolean, collections: string[] | undefined, reference: boolean) {
  let stdout = '';
  let stderr = '';
  const out = { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream;
  const err = { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream;
  let status = 0;
  try {
    runDecode(
      { file, all, decoder: { collections }, ...(reference ? { decode: (f: Uint8Array) => referenceDecodeFrame(f, { collections }) } : {}) },
      out,
      err,
    );
  } catch (e) {
    stderr += `firehose-redis: ${(e as Error).message}\n`;
    status = 1;
  }
  return { status, stdout, stderr };
}

const MODES: Array<{ name: string; args: string[]; all: boolean; collections?: string[] }> = [
  { name: 'plain', args: [], all: false },
  { name: '--all', args: ['--all'], all: true },
  { name: '--collections', args: ['--collections', 'app.bsky.feed.*,app.bsky.graph.follow'], all: false, collections: ['app.bsky.feed.*', 'app.bsky.graph.follow'] },
  {
    name: '--all --collections',
    args: ['--all', '--collections', 'app.bsky.feed.post'],
    all: true,
    collections: ['app.bsky.feed.post'],
  },
];

/** Runs fn over items, two at a time (the machine has two cores). */
async function twoAtATime<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all([worker(), worker()]);
}

test('every capture fixture prints the same bytes natively as the TypeScript formatting of the reference path', async () => {
  const captures = captureFixtures();
  assert.deepEqual(
    captures.map((c) => path.relative(path.join(FIXTURES, '..', '..'), c)),
    [
      'samples/jetstream-100.bin',
      'test/fixtures/jetstream-corpus/frames.bin',
      'test/fixtures/pds-capture/error-frame-futurecursor/frames.bin',
      'test/fixtures/pds-capture/frames.bin',
    ],
  );
  // samples/jetstream-100.bin is jetstream-corpus/frames.bin: decode each content once.
  const distinct = [...new Map(captures.map((c) => [fs.readFileSync(c).toString('base64'), c])).values()];
  const runs = distinct.flatMap((file) => MODES.map((mode) => ({ file, mode })));
  await twoAtATime(runs, async ({ file, mode }) => {
    const native = await decodeToFiles([file, ...mode.args]);
    const reference = decodeFrameByFrame(file, mode.all, mode.collections, true);
    const where = `${path.basename(path.dirname(file))}/${path.basename(file)} ${mode.name}`;
    assert.equal(native.status, 0, `${where}: ${native.stderr}`);
    assert.ok(native.stdout.length > 0 || file.includes('error-frame'), `${where}: no output`);
    assert.equal(native.stdout, reference.stdout, `${where}: stdout`);
    assert.equal(native.stderr, reference.stderr, `${where}: stderr`);
  });
});

test('synthetic frames (failures, left-out ops, error, #info, legacy, unknown) print the same bytes natively as frame by frame', async () => {
  // A real frame first, then every frame the decoder tests build, each once.
  const first = readFrames('jetstream-corpus/frames.bin')[0]!.bytes;
  const seen = new Set<string>();
  const frames = [first, ...indigoCases(), ...handBuiltCases()].map((c) => ('frame' in c ? c.frame : c)).filter((f) => {
    const key = Buffer.from(f).toString('base64');
    return !seen.has(key) && seen.add(key);
  });
  const file = writeCapture('synthetic.bin', frames);
  const cut = path.join(tmp, 'synthetic-cut.bin');
  fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, -10));
  let failures = 0;
  let skipped = 0;
  for (const capture of [file, cut]) {
    await twoAtATime(MODES, async (mode) => {
      const native = await decodeToFiles([capture, ...mode.args]);
      const today = decodeFrameByFrame(capture, mode.all, mode.collections, false);
      assert.equal(native.status, today.status, `${mode.name}: ${native.stderr}`);
      assert.equal(native.stdout, today.stdout, `${mode.name}: stdout`);
      assert.equal(native.stderr, today.stderr, `${mode.name}: stderr`);
      failures += (native.stderr.match(/^frame \d+ \(offset/gm) ?? []).length;
      skipped += (native.stderr.match(/ left out \(/g) ?? []).length;
    });
  }
  // The capture does exercise the lines for failed frames and left-out ops.
  assert.ok(failures > 20 && skipped > 8, `${failures} failed frames, ${skipped} left-out ops`);
});
