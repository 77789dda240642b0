/**
 * Files that are not the capture they should be, as the library
 * (openCapture, readCapture, splitCapture) and `decode` (native and
 * --reference) read them: a file that is no capture at all, a capture cut
 * short, a file of a few bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openCapture, readCapture, splitCapture, walkCapture } from '../src/capture.js';
import { createDecoder } from '../src/decoder.js';
import { FirehoseError } from '../src/errors.js';
import { fixture, readFrames } from './support/fixtures.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-capture-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
}

function decode(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'decode', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isCaptureError = (re: RegExp) => (e: unknown) => e instanceof FirehoseError && e.code === 'ERR_CAPTURE' && re.test(e.message);

const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

test('a file that is not a capture is said to be none, by every reader, with nothing printed', () => {
  const pds = fs.readFileSync(fixture('pds-capture/frames.bin'));
  const cases: Array<[string, Buffer | string, RegExp]> = [
    // The example: text read as a length of over a gigabyte.
    ['readme.md', '# firehose-redis\n\nThe AT Protocol firehose...\n', /starts with a length prefix of 1768300579 bytes, outside 1 to 67108864/],
    ['zero.bin', Buffer.concat([le32(0), pds]), /starts with a length prefix of 0 bytes/],
    // A plausible length, then no DAG-CBOR header map: JSON lines, say.
    ['lines.jsonl', Buffer.concat([le32(20), Buffer.from('{"type":"commit"}\n{"type":"commit"}\n')]), /the first message of .* does not start with a DAG-CBOR header map/],
    ['the-frames-alone.bin', readFrames('pds-capture/frames.bin')[0]!.bytes, /starts with a length prefix of \d+ bytes, outside/],
    ['wrong-key.bin', Buffer.concat([le32(8), Buffer.from('a2617801616f0102', 'hex')]), /does not start with a DAG-CBOR header map/],
  ];
  for (const [name, bytes, why] of cases) {
    const f = file(name, bytes);
    assert.throws(() => openCapture(f), isCaptureError(/^not a capture: /), name);
    assert.throws(() => readCapture(f), isCaptureError(why), name);
    assert.throws(() => splitCapture(fs.readFileSync(f), f), isCaptureError(why), name);
    const native = decode(f);
    const reference = decode(f, '--reference');
    assert.equal(native.status, 1, name);
    assert.equal(native.stdout, '', name);
    assert.match(native.stderr, /^firehose-redis: not a capture: /, name);
    assert.match(native.stderr, why, name);
    assert.equal(native.stderr.split('\n').length, 2, `${name}: one line`);
    assert.match(native.stderr, /as `firehose-redis record` writes them\n$/, `${name}: says what a capture is`);
    assert.deepEqual(reference, native, `${name}: --reference says the same`);
  }
});

test('a file of 1 to 3 bytes is not a capture (never "stray bytes … after frame -1"); an empty one is a capture of nothing', () => {
  for (let n = 1; n <= 3; n++) {
    const f = file(`short-${n}.bin`, Buffer.from([0xa2, 0x61, 0x74]).subarray(0, n));
    const message = `not a capture: ${f} holds ${n} byte${n === 1 ? '' : 's'}, too few for a message's length prefix`;
    assert.throws(() => readCapture(f), (e: unknown) => e instanceof FirehoseError && e.message.startsWith(message));
    for (const args of [[f], [f, '--reference']]) {
      const r = decode(...args);
      assert.equal(r.status, 1);
      assert.ok(r.stderr.startsWith(`firehose-redis: ${message}`), r.stderr);
      assert.doesNotMatch(r.stderr, /frame -1/);
    }
  }
  const empty = file('empty.bin', '');
  assert.deepEqual(openCapture(empty), { frames: [] });
  const r = decode(empty);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, 'decoded 0 frames: 0 entries, 0 without an entry, 0 failed; 0 ops left out\n');
});

test('a capture cut anywhere yields every complete frame, then one error saying where', () => {
  const whole = fs.readFileSync(fixture('pds-capture/frames.bin'));
  const frames = readFrames('pds-capture/frames.bin');
  for (const i of [0, 1, 150, frames.length - 1]) {
    const f = frames[i]!;
    // Inside the length prefix (1-3 stray bytes), inside the header, near the end.
    // (Frame 0 cut inside its length prefix leaves a file of 1-3 bytes: no capture.)
    for (const cutAt of [1, 2, 3, 4, 5, 4 + f.bytes.length - 1].filter((c) => i > 0 || c >= 4)) {
      const name = file(`cut-${i}-${cutAt}.bin`, whole.subarray(0, f.offset + cutAt));
      const capture = openCapture(name);
      assert.equal(capture.frames.length, i, `cut ${cutAt} bytes into frame ${i}`);
      capture.frames.forEach((g, j) => assert.ok(g.bytes.equals(frames[j]!.bytes)));
      const want =
        cutAt < 4
          ? `${name} is truncated: ${cutAt} stray bytes at offset ${f.offset} after frame ${i - 1}`
          : `${name} is truncated: frame ${i} at offset ${f.offset} claims ${f.bytes.length} bytes but only ${cutAt - 4} remain`;
      assert.ok(capture.truncated instanceof FirehoseError);
      assert.equal(capture.truncated.code, 'ERR_CAPTURE');
      assert.equal(capture.truncated.message, want);
      assert.throws(() => readCapture(name), isCaptureError(new RegExp(`^${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)));
    }
  }
});

test('decode of a cut capture: every complete frame on stdout, the summary, one error line, exit 1 (native and --reference)', () => {
  const whole = fs.readFileSync(fixture('pds-capture/frames.bin'));
  const frames = readFrames('pds-capture/frames.bin');
  const complete = decode(fixture('pds-capture/frames.bin'), '--all').stdout.split('\n').filter(Boolean);
  const f = frames[200]!;
  const name = file('cut-200.bin', whole.subarray(0, f.offset + 2));
  const native = decode(name, '--all');
  assert.equal(native.status, 1);
  assert.deepEqual(native.stdout.split('\n').filter(Boolean), complete.slice(0, 200));
  const [summary, error, ...rest] = native.stderr.split('\n');
  assert.match(summary!, /^decoded 200 frames: /);
  assert.equal(error, `firehose-redis: ${name} is truncated: 2 stray bytes at offset ${f.offset} after frame 199`);
  assert.deepEqual(rest, ['']);
  assert.deepEqual(decode(name, '--all', '--reference'), native);
});

test('the native walker (decode) and the TypeScript one (openCapture) end every odd file the same way', () => {
  const pds = fs.readFileSync(fixture('pds-capture/frames.bin'));
  const frames = readFrames('pds-capture/frames.bin');
  const odd: Buffer[] = [
    Buffer.alloc(0),
    pds,
    Buffer.from('# firehose-redis\n'),
    Buffer.from([0xa2, 0x61]),
    Buffer.concat([le32(0), pds]),
    Buffer.concat([le32(2), Buffer.from('{}')]),
    Buffer.concat([le32(1), Buffer.from([0xa1])]),
    Buffer.concat([le32(64 << 20), Buffer.from([0xa2, 0x61, 0x74])]),
    Buffer.concat([le32((64 << 20) + 1), Buffer.from([0xa2, 0x61, 0x74])]),
    Buffer.concat([le32(5), Buffer.from([0xa1, 0x62, 0x6f, 0x70, 0x20])]),
    Buffer.concat([le32(5), Buffer.from([0xa1, 0x62, 0x6f, 0x71, 0x20])]),
    ...[1, 3, 4, 7, 500].map((n) => pds.subarray(0, frames[10]!.offset + n)),
  ];
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const decoder = createDecoder();
    for (const [i, buf] of odd.entries()) {
      const ts = walkCapture(buf);
      const native = decoder.printCapture(buf, devNull, devNull, true);
      assert.deepEqual(native.end, ts.end, `case ${i}`);
      assert.equal(native.frames, ts.frames.length, `case ${i}`);
    }
  } finally {
    fs.closeSync(devNull);
  }
});
