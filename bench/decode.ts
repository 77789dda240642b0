/**
 * `firehose-redis decode` as a user runs it, start to exit, in one run:
 *   native     `decode <capture>`: the addon maps the capture and writes
 *              the lines itself;
 *   reference  `decode --reference <capture>`: the TypeScript reference
 *              decoder (cborg, @ipld/car) and the TypeScript formatting;
 * and, for comparison, the decoder core alone on one thread inside this
 * process (decodeCapture: no output, no process start; the command decodes
 * on one thread per core).
 *
 * The capture is the real fixture frames (Jetstream relay frames and the
 * official PDS's firehose) cycled with fresh seq numbers (bench/corpus.ts)
 * to at least --mb MB, written to a file in the system's temp directory;
 * stdout and stderr go to files there too. All of it is removed at the end.
 * The two paths' outputs are compared byte for byte.
 *
 *   npm run bench:decode -- [--mb 300] [--runs 5] [--reference-runs 1] [--only native|reference]
 *
 * MB is 10^6 bytes; rates are capture bytes per second of wall time, the
 * median of the runs. The machine is shared and noisy: compare the ratio,
 * which comes from one run, rather than absolute figures across runs.
 *
 * The commands run without NODE_EXTRA_CA_CERTS: some environments point it
 * at the whole system CA bundle, which Node then parses at every start
 * (about 100 ms of CPU here) although decode never opens a connection.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCapture } from '../src/capture.js';
import { createDecoder } from '../src/decoder.js';
import { syntheticStream } from './corpus.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CLI = path.join(root, 'dist/src/cli.js');
const FIXTURES = ['jetstream-corpus/frames.bin', 'pds-capture/frames.bin'].map((c) => path.join(root, 'test/fixtures', c));
const MB = 1e6;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    mb: { type: 'string', default: '300' },
    runs: { type: 'string', default: '5' },
    'reference-runs': { type: 'string', default: '1' },
  },
});
if (values.only !== undefined && values.only !== 'native' && values.only !== 'reference') {
  console.error('--only takes native or reference');
  process.exit(2);
}

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-bench-decode-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** The fixture frames, re-numbered and cycled, written as a capture of at least mb MB. */
function writeCorpus(file: string, mb: number): { frames: number; bytes: number } {
  const base = FIXTURES.flatMap((f) => readCapture(f).map((c) => c.bytes));
  const perFrame = base.reduce((n, f) => n + 4 + f.length, 0) / base.length;
  const count = Math.ceil((mb * MB) / perFrame);
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  let parts: Buffer[] = [];
  let pending = 0;
  const flush = () => {
    fs.writeSync(fd, Buffer.concat(parts));
    parts = [];
    pending = 0;
  };
  for (const { bytes: frame } of syntheticStream(base, count)) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(frame.length);
    parts.push(len, frame);
    pending += 4 + frame.length;
    bytes += 4 + frame.length;
    if (pending >= 8 << 20) flush();
  }
  flush();
  fs.closeSync(fd);
  return { frames: count, bytes };
}

interface Result {
  name: string;
  mbPerSec: number;
  out: string;
  err: string;
}

/** The command, start to exit, `runs` times; stdout and stderr to files. */
function measure(name: string, args: string[], runs: number, captureBytes: number): Result {
  const out = path.join(tmp, `${name}.out`);
  const err = path.join(tmp, `${name}.err`);
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [CLI, 'decode', ...args], { stdio: ['ignore', outFd, errFd], env });
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    if (r.status !== 0) throw new Error(`${name} exited with ${r.status}: ${fs.readFileSync(err, 'utf8')}`);
  }
  const sorted = [...seconds].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const result = { name, mbPerSec: captureBytes / MB / median, out, err };
  console.log(
    `${name.padEnd(10)} ${result.mbPerSec.toFixed(1).padStart(8)} MB/s   median ${median.toFixed(3)} s of ${runs} ` +
      `(${seconds.map((s) => s.toFixed(3)).join(', ')})`,
  );
  return result;
}

/** The decoder core alone, on one thread, over the same capture, inside this process. */
function measureCore(file: string): void {
  const capture = fs.readFileSync(file);
  const r = createDecoder().decodeCapture(capture, 1);
  console.log(
    `${'core'.padEnd(10)} ${(capture.length / MB / (r.nanoseconds / 1e9)).toFixed(1).padStart(8)} MB/s   ` +
      `(decodeCapture on one thread in this process: no output, no start-up)`,
  );
}

const capture = path.join(tmp, 'capture.bin');
const corpus = writeCorpus(capture, Number(values.mb));
console.log(`capture: ${corpus.frames} frames, ${(corpus.bytes / MB).toFixed(1)} MB, from ${FIXTURES.map((f) => path.relative(root, f)).join(', ')}`);
console.log(
  `command: node ${path.relative(process.cwd(), CLI)} decode [--reference] <capture> >out 2>err` +
    (process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS removed)' : ''),
);

const results: Result[] = [];
if (values.only !== 'reference') {
  measureCore(capture);
  results.push(measure('native', [capture], Number(values.runs), corpus.bytes));
}
if (values.only !== 'native') {
  results.push(measure('reference', ['--reference', capture], Number(values['reference-runs']), corpus.bytes));
}
const [native, reference] = results;
if (native && reference) {
  const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));
  if (!same(native.out, reference.out) || !same(native.err, reference.err)) {
    throw new Error('native and reference printed different bytes');
  }
  console.log(`native / reference: ${(native.mbPerSec / reference.mbPerSec).toFixed(1)}x (stdout and stderr byte-identical)`);
}
